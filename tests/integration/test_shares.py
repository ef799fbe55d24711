"""Share links (issue #24) through the JSON API, the shared page and the admin, with
the real database: creation, revocation, expiry, isolation, and a page that shows the
snapshot and nothing else of its owner."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from chat.accounts import api_tokens
from chat.models import AuditEvent, Conversation, Message, ShareLink

pytestmark = pytest.mark.django_db

SECRET_ELSEWHERE = "alice's other conversation about her bank"


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def tree(alice: Any) -> dict[str, Any]:
    """Alice's conversation: a question with two answers (the second shown), and another
    conversation of hers that no share may reveal."""
    conversation = Conversation.objects.create(owner=alice, title="Kyoto trip")
    question = Message.objects.create(conversation=conversation, role="user", content="Where?")
    first = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="FIRST-Fushimi"
    )
    second = Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        content="SECOND-Arashiyama\n\n```python\nprint('bamboo')\n```",
        model_name="demo-offline",
    )
    Conversation.objects.filter(pk=conversation.pk).update(leaf=second)
    Conversation.objects.create(owner=alice, title=SECRET_ELSEWHERE)
    return {"conversation": conversation, "question": question, "first": first, "second": second}


def create(client: Client, conversation: Conversation, body: Any = None, **kw: Any) -> Any:
    return client.post(
        f"/api/conversations/{conversation.pk}/shares/",
        json.dumps(body if body is not None else {}),
        content_type="application/json",
        **kw,
    )


def path_of(share: dict[str, Any]) -> str:
    match = re.search(r"(/s/[A-Za-z0-9_-]{32,}/)$", share["url"])
    assert match, share["url"]
    return match.group(1)


def page_snapshot(response: Any) -> dict[str, Any]:
    html = response.content.decode()
    found = re.search(r'<script id="share-snapshot" type="application/json">(.*?)</script>', html)
    assert found, html[:500]
    return json.loads(found.group(1))


def test_a_branch_link_shows_the_branch_shown_and_nothing_else_of_the_owner(
    alice: Any, bob: Any, tree: dict[str, Any]
) -> None:
    owner = login(alice)
    made = create(owner, tree["conversation"], {"scope": "branch", "expires": "7d"})
    assert made.status_code == 201, made.content
    share = made.json()
    assert (share["scope"], share["state"], share["views"], share["message_count"]) == (
        "branch", "active", 0, 2,
    )  # fmt: skip
    expires = timezone.datetime.fromisoformat(share["expires"].replace("Z", "+00:00"))
    assert timedelta(days=6, hours=23) < expires - timezone.now() <= timedelta(days=7)

    page = login(bob).get(path_of(share))
    assert page.status_code == 200
    assert page["X-Robots-Tag"].startswith("noindex")
    assert page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert '<meta name="robots" content="noindex' in html
    assert "Kyoto trip" in html and "Where?" in html and "SECOND-Arashiyama" in html
    assert "FIRST-Fushimi" not in html  # the other version: not on the branch shown
    for private in ("alice", SECRET_ELSEWHERE, str(tree["conversation"].pk)):
        assert private not in html
    for message in (tree["question"], tree["first"], tree["second"]):
        assert str(message.pk) not in html
    snapshot = page_snapshot(page)
    assert [(m["n"], m["parent"], m["role"]) for m in snapshot["messages"]] == [
        (0, None, "user"),
        (1, 0, "assistant"),
    ]
    assert snapshot["leaf"] == 1 and snapshot["scope"] == "branch"
    assert set(snapshot["messages"][0]) == {
        "n", "parent", "role", "content", "status", "model", "created", "error",
    }  # fmt: skip

    login(bob).get(path_of(share))
    assert ShareLink.objects.get(pk=share["id"]).views == 2
    listed = owner.get(f"/api/conversations/{tree['conversation'].pk}/shares/").json()
    assert [(s["id"], s["views"]) for s in listed["shares"]] == [(share["id"], 2)]


def test_a_tree_link_holds_every_version_and_starts_on_the_one_shown(
    alice: Any, tree: dict[str, Any]
) -> None:
    owner = login(alice)
    share = create(owner, tree["conversation"], {"scope": "tree", "expires": "never"}).json()
    assert (share["expires"], share["message_count"]) == (None, 3)
    page = owner.get(path_of(share))
    snapshot = page_snapshot(page)
    assert [(m["n"], m["parent"], m["content"][:6]) for m in snapshot["messages"]] == [
        (0, None, "Where?"),
        (1, 0, "FIRST-"),
        (2, 0, "SECOND"),
    ]
    assert snapshot["leaf"] == 2
    assert "static/chat/shared.js" in page.content.decode()  # draws the "< 1/2 >" switches


def test_what_is_said_after_sharing_is_not_in_the_link(alice: Any, tree: dict[str, Any]) -> None:
    owner = login(alice)
    share = create(owner, tree["conversation"], {"scope": "tree"}).json()
    conversation = tree["conversation"]
    later = Message.objects.create(
        conversation=conversation, parent=tree["second"], role="user", content="LATER-question"
    )
    Conversation.objects.filter(pk=conversation.pk).update(leaf=later, title="Renamed")
    Message.objects.filter(pk=tree["first"].pk).update(content="EDITED-after")
    html = owner.get(path_of(share)).content.decode()
    assert "LATER-question" not in html and "EDITED-after" not in html
    assert "Renamed" not in html and "Kyoto trip" in html and "FIRST-Fushimi" in html
    fresh = create(owner, conversation, {"scope": "branch"}).json()
    assert "LATER-question" in owner.get(path_of(fresh)).content.decode()


def test_revoking_a_link_closes_its_page_with_410(alice: Any, tree: dict[str, Any]) -> None:
    owner = login(alice)
    share = create(owner, tree["conversation"]).json()
    assert share["expires"] is not None  # 30 days unless asked otherwise
    revoked = owner.delete(f"/api/shares/{share['id']}/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    page = owner.get(path_of(share))
    assert page.status_code == 410
    assert "This link was revoked" in page.content.decode()
    assert page["X-Robots-Tag"].startswith("noindex")
    assert "SECOND-Arashiyama" not in page.content.decode()
    again = owner.delete(f"/api/shares/{share['id']}/")  # revoking twice changes nothing
    assert again.status_code == 200 and again.json()["state"] == "revoked"
    assert ShareLink.objects.get(pk=share["id"]).revoked_why == "owner"
    assert ShareLink.objects.get(pk=share["id"]).views == 0
    assert not AuditEvent.objects.exists()  # the owner's own revocation is not staff's


def test_an_expired_link_answers_410_and_no_longer_counts_as_active(
    alice: Any, tree: dict[str, Any], settings: Any
) -> None:
    settings.SHARE_MAX_ACTIVE_PER_USER = 1
    owner = login(alice)
    share = create(owner, tree["conversation"], {"expires": "1d"}).json()
    assert create(owner, tree["conversation"]).status_code == 409  # one active at most
    ShareLink.objects.filter(pk=share["id"]).update(expires=timezone.now() - timedelta(seconds=1))
    page = owner.get(path_of(share))
    assert page.status_code == 410 and "This link has expired" in page.content.decode()
    assert owner.get(f"/api/shares/{share['id']}/").json()["state"] == "expired"
    assert create(owner, tree["conversation"]).status_code == 201  # the expired one is spent


def test_an_unknown_link_is_a_readable_404(bob: Any) -> None:
    page = login(bob).get("/s/" + "x" * 32 + "/")
    assert page.status_code == 404 and "No such link" in page.content.decode()
    assert page["X-Robots-Tag"].startswith("noindex")


def test_all_of_a_users_links_are_listed_and_only_theirs(
    alice: Any, bob: Any, tree: dict[str, Any]
) -> None:
    owner = login(alice)
    first = create(owner, tree["conversation"]).json()
    other = Conversation.objects.create(owner=alice, title="Second")
    Message.objects.create(conversation=other, role="user", content="hi")
    second = create(owner, other, {"scope": "tree"}).json()
    theirs = Conversation.objects.create(owner=bob, title="Bob's")
    Message.objects.create(conversation=theirs, role="user", content="bob's text")
    create(login(bob), theirs)
    listed = owner.get("/api/shares/").json()["shares"]
    assert [(s["id"], s["title"]) for s in listed] == [
        (second["id"], "Second"),
        (first["id"], "Kyoto trip"),
    ]
    assert Client().get("/api/shares/").status_code == 401


def test_another_user_can_neither_create_list_read_nor_revoke(
    alice: Any, bob: Any, tree: dict[str, Any]
) -> None:
    share = create(login(alice), tree["conversation"]).json()
    intruder = login(bob)
    conversation = tree["conversation"]
    answers = [
        create(intruder, conversation),
        intruder.get(f"/api/conversations/{conversation.pk}/shares/"),
        intruder.get(f"/api/shares/{share['id']}/"),
        intruder.delete(f"/api/shares/{share['id']}/"),
    ]
    for answer in answers:
        assert answer.status_code == 404, answer.content
        assert answer.json()["error"]["code"] == "not_found"
    assert ShareLink.objects.get(pk=share["id"]).revoked is None
    assert ShareLink.objects.count() == 1
    anonymous = Client()
    assert create(anonymous, conversation).status_code == 401
    assert anonymous.get(f"/api/shares/{share['id']}/").status_code == 401


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"scope": "everything"}, "invalid", "scope"),
        ({"expires": "2d"}, "invalid", "expires"),
        ({"expires": 7}, "invalid", "expires"),
        ({"scope": ["tree"]}, "invalid", "scope"),
        ([1, 2], "bad_request", None),
    ],
)
def test_a_bad_body_is_a_readable_400(
    alice: Any, tree: dict[str, Any], body: Any, code: str, field: str | None
) -> None:
    answer = create(login(alice), tree["conversation"], body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == code and error["message"]
    if field:
        assert field in error["fields"] and field in error["message"]
    assert not ShareLink.objects.exists()


def test_an_empty_conversation_has_nothing_to_share(alice: Any) -> None:
    empty = Conversation.objects.create(owner=alice)
    answer = create(login(alice), empty)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "not_allowed"
    assert "nothing to share" in answer.json()["error"]["message"]


def test_signed_out_visitors_log_in_first_unless_public_links_are_allowed(
    alice: Any, tree: dict[str, Any], settings: Any
) -> None:
    share = create(login(alice), tree["conversation"]).json()
    settings.ALLOW_PUBLIC_SHARES = False
    closed = Client().get(path_of(share))
    assert closed.status_code == 302
    assert closed["Location"].startswith("/accounts/login/?next=/s/")
    assert closed["X-Robots-Tag"].startswith("noindex")
    assert ShareLink.objects.get(pk=share["id"]).views == 0
    settings.ALLOW_PUBLIC_SHARES = True
    opened = Client().get(path_of(share))
    assert opened.status_code == 200 and "SECOND-Arashiyama" in opened.content.decode()
    assert ShareLink.objects.get(pk=share["id"]).views == 1


def test_deleting_the_conversation_deletes_its_links(alice: Any, tree: dict[str, Any]) -> None:
    owner = login(alice)
    share = create(owner, tree["conversation"]).json()
    assert owner.delete(f"/api/conversations/{tree['conversation'].pk}/").status_code == 204
    assert owner.get(path_of(share)).status_code == 404


def test_staff_see_the_links_and_revoke_any_audited(alice: Any, tree: dict[str, Any]) -> None:
    owner = login(alice)
    first = create(owner, tree["conversation"]).json()
    second = create(owner, tree["conversation"], {"scope": "tree"}).json()
    owner.delete(f"/api/shares/{second['id']}/")
    root = login(get_user_model().objects.create_superuser("root", password="pw-root-1"))
    changelist = root.get("/admin/chat/sharelink/")
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert "Kyoto trip" in html and "alice" in html and "SECOND-Arashiyama" not in html
    assert first["url"].rsplit("/", 2)[-2] not in html  # the token is not shown
    chosen = {"action": "revoke_selected", "_selected_action": [first["id"], second["id"]]}
    done = root.post("/admin/chat/sharelink/", chosen, follow=True)
    assert "1 share link(s) revoked." in done.content.decode()
    assert ShareLink.objects.get(pk=first["id"]).revoked_why == "admin"
    assert ShareLink.objects.get(pk=second["id"]).revoked_why == "owner"
    fields = ("actor_name", "action", "conversation_id", "detail")
    audit = list(AuditEvent.objects.values_list(*fields))
    assert audit == [("root", "revoke_share", tree["conversation"].pk, f"share={first['id']}")]
    assert owner.get(path_of(first)).status_code == 410
    assert root.get("/admin/chat/sharelink/?state=active").context["cl"].result_count == 0
    assert root.get("/admin/chat/sharelink/?state=revoked").context["cl"].result_count == 2


def test_a_script_shares_with_a_full_token_and_a_read_token_only_lists(
    alice: Any, tree: dict[str, Any]
) -> None:
    _, full = api_tokens.token_create(user=alice, name="full")
    _, read = api_tokens.token_create(user=alice, name="read", scope="read")
    script = Client(HTTP_AUTHORIZATION=f"Bearer {full}")
    share = create(script, tree["conversation"], {"expires": "never"})
    assert share.status_code == 201, share.content
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {read}")
    refused = create(reader, tree["conversation"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_allowed"
    assert reader.delete(f"/api/shares/{share.json()['id']}/").status_code == 403
    assert [s["id"] for s in reader.get("/api/shares/").json()["shares"]] == [share.json()["id"]]
    assert ShareLink.objects.get().revoked is None
