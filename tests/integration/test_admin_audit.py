"""Every admin page that shows what a conversation says leaves an audit record; the
pages that show no message text leave none. Real admin pages, real PostgreSQL."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from chat.admin.site import ConversationAdmin
from chat.models import AuditEvent, Conversation, Feedback, Message

from .test_admin import make_conversation

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/chat/conversation/"
SECRET = "my locker code is 4-8-15"


def staff_client(name: str, *perms: str, superuser: bool = False) -> Client:
    users = get_user_model().objects
    if superuser:
        user = users.create_superuser(name, password="pw-staff-123")
    else:
        user = users.create_user(name, password="pw-staff-123", is_staff=True)
        user.user_permissions.add(*(Permission.objects.get(codename=p) for p in perms))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def reviewer() -> Client:
    """Staff with view rights only: reads and exports."""
    return staff_client("viewer", "view_conversation", "view_message")


@pytest.fixture
def root() -> Client:
    return staff_client("root", superuser=True)


@pytest.fixture
def secret(alice) -> tuple[Conversation, Message]:
    """A conversation whose first message holds text no page but the audited ones shows."""
    conversation, answer = make_conversation(alice, "Locker")
    Message.objects.filter(conversation=conversation, role="user").update(content=SECRET)
    Feedback.objects.create(message=answer, rating=-1, comment="wrong locker")
    return conversation, Message.objects.get(conversation=conversation, role="user")


def audit_rows() -> list[tuple]:
    return list(
        AuditEvent.objects.order_by("pk").values_list(
            "actor_name", "action", "conversation_id", "detail"
        )
    )


async def _read(response) -> bytes:
    return b"".join([piece async for piece in response.streaming_content])


# --- Pages that show message text are audited ---------------------------------------


def test_transcript_page_is_audited_once_per_view(reviewer, secret) -> None:
    conversation, _ = secret
    page = reviewer.get(f"{CHANGELIST}{conversation.pk}/change/")
    assert page.status_code == 200 and SECRET in page.content.decode()
    assert audit_rows() == [("viewer", "view", conversation.pk, "")]


def test_a_save_that_fails_shows_the_transcript_again_and_is_audited(root, secret) -> None:
    """An invalid review form is shown again with the transcript: that is a view."""
    conversation, _ = secret
    page = root.post(f"{CHANGELIST}{conversation.pk}/change/", {"review_state": "bogus"})
    assert page.status_code == 200 and SECRET in page.content.decode()
    assert page.context["adminform"].form.errors  # it did fail
    assert audit_rows() == [("root", "view", conversation.pk, "")]


def test_a_save_that_works_is_audited_as_a_review_not_a_view(root, secret) -> None:
    conversation, _ = secret
    response = root.post(
        f"{CHANGELIST}{conversation.pk}/change/", {"review_state": "flagged", "staff_note": ""}
    )
    assert response.status_code == 302
    assert audit_rows() == [("root", "review", conversation.pk, "state=flagged")]


@pytest.mark.parametrize("page", ["change", "history"])
def test_a_message_page_is_its_audited_transcript(reviewer, secret, page: str) -> None:
    """The message admin has no page of its own that shows text: it leads to the
    transcript, at the message, and that view is audited."""
    conversation, message = secret
    response = reviewer.get(f"/admin/chat/message/{message.pk}/{page}/")
    transcript = f"{CHANGELIST}{conversation.pk}/change/"
    assert response.status_code == 302
    assert response.url == f"{transcript}#message-{message.pk}"
    assert audit_rows() == []  # the redirect shows nothing
    page_html = reviewer.get(transcript).content.decode()
    assert f'id="message-{message.pk}"' in page_html and SECRET in page_html
    assert audit_rows() == [("viewer", "view", conversation.pk, "")]


def test_a_message_page_needs_view_permission_and_cannot_be_posted(secret) -> None:
    _, message = secret
    outsider = staff_client("outsider", "view_conversation")  # no view_message
    assert outsider.get(f"/admin/chat/message/{message.pk}/change/").status_code == 403
    viewer = staff_client("viewer", "view_conversation", "view_message")
    assert viewer.post(f"/admin/chat/message/{message.pk}/change/", {}).status_code == 403
    assert audit_rows() == []


def test_message_text_search_audits_the_conversations_it_shows(
    reviewer, alice, monkeypatch
) -> None:
    """A result page tells which conversations mention the term: each one shown is
    audited, with the term; the next page audits its own."""
    monkeypatch.setattr(ConversationAdmin, "list_per_page", 2)
    matching = [make_conversation(alice, f"match {i}")[0] for i in range(3)]
    for conversation in matching:
        Message.objects.filter(conversation=conversation, role="user").update(
            content="where is the needle"
        )
    make_conversation(alice, "other")
    first = reviewer.get(f"{CHANGELIST}?q=needle")
    shown = [c.pk for c in first.context["cl"].result_list]
    assert len(shown) == 2 and set(shown) <= {c.pk for c in matching}
    assert sorted(audit_rows()) == sorted(("viewer", "search", pk, "q=needle") for pk in shown)
    second = reviewer.get(f"{CHANGELIST}?q=needle&p=2")
    (last,) = [c.pk for c in second.context["cl"].result_list]
    assert audit_rows()[2:] == [("viewer", "search", last, "q=needle")]
    assert {pk for _, _, pk, _ in audit_rows()} == {c.pk for c in matching}


@pytest.mark.parametrize("action", ["export_json", "export_csv"])
def test_exports_audit_each_exported_conversation(reviewer, alice, action: str) -> None:
    first, _ = make_conversation(alice, "first")
    second, _ = make_conversation(alice, "second")
    make_conversation(alice, "not exported")
    response = reviewer.post(
        CHANGELIST, {"action": action, "_selected_action": [first.pk, second.pk]}
    )
    assert b"first" in async_to_sync(_read)(response)
    assert sorted(audit_rows()) == sorted(
        [("viewer", action, first.pk, ""), ("viewer", action, second.pk, "")]
    )


@pytest.mark.parametrize("query", ["", "?review_state__exact=unreviewed&feedback=down"])
def test_the_conversation_list_audits_each_conversation_whose_title_it_shows(
    reviewer, secret, alice, monkeypatch, query: str
) -> None:
    """A title is the first words of the user's first message: a page of the list is
    a view of each conversation it shows, once, and of no other (issue #21)."""
    monkeypatch.setattr(ConversationAdmin, "list_per_page", 2)
    conversation, _ = secret
    Conversation.objects.filter(pk=conversation.pk).update(title="my locker code is…")
    for name in ("second", "third"):
        Feedback.objects.create(message=make_conversation(alice, name)[1], rating=-1)
    page = reviewer.get(f"{CHANGELIST}{query}")
    assert page.status_code == 200
    shown = [c.pk for c in page.context["cl"].result_list]
    assert len(shown) == 2 and len(set(shown)) == 2
    assert sorted(audit_rows()) == sorted(
        ("viewer", "view", pk, "conversation list") for pk in shown
    )


def test_a_conversations_change_history_is_audited(root, secret) -> None:
    """The history page names the conversation by its title."""
    conversation, _ = secret
    page = root.get(f"{CHANGELIST}{conversation.pk}/history/")
    assert page.status_code == 200 and "Locker" in page.content.decode()
    assert audit_rows() == [("root", "view", conversation.pk, "history")]


# --- Pages that show no message text are not --------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/chat/",
        f"{CHANGELIST}?review_state__exact=flagged",  # no rows, no titles
        f"{CHANGELIST}stats/",
        "/admin/chat/message/?role__exact=user&status__exact=error",  # no rows, no text
        "/admin/chat/auditevent/",
    ],
)
def test_pages_without_message_text_are_not_audited(root, secret, url: str) -> None:
    conversation, _ = secret
    page = root.get(url.format(conversation=conversation.pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert SECRET not in html and "wrong locker" not in html
    assert audit_rows() == []


@pytest.mark.parametrize("query", ["", "?role__exact=user", "?q=locker"])
def test_the_message_list_shows_text_and_audits_each_conversation_it_shows(
    reviewer, secret, alice, query: str
) -> None:
    """Each message's text, escaped, on one line, cut at 120 characters; the page is a
    view of every conversation whose messages it showed (once each), and of no other."""
    conversation, _ = secret
    long_text = "<b>bold?</b> & " + "x" * 200 + "\nsecond line"
    other, _ = make_conversation(alice, "Other")
    Message.objects.filter(conversation=other, role="user").update(content=long_text)
    Message.objects.filter(conversation=other, role="assistant").update(role="user")
    hidden, _ = make_conversation(alice, "Filtered out")
    Message.objects.filter(conversation=hidden).update(role="assistant")
    page = reviewer.get(f"/admin/chat/message/{query}")
    assert page.status_code == 200
    html = page.content.decode()
    assert SECRET in html
    assert "&lt;b&gt;bold?&lt;/b&gt; &amp; xxx" in html and "<b>bold?</b>" not in html
    assert "second line" not in html and "x" * 121 not in html  # truncated
    shown = {m.conversation_id for m in page.context["cl"].result_list}
    assert {conversation.pk, other.pk} <= shown
    rows = audit_rows()
    assert sorted(rows) == sorted(("viewer", "view", pk, "message list") for pk in shown)
    if "role" in query:  # the filter left the third conversation's messages off the page
        assert hidden.pk not in {pk for _, _, pk, _ in rows}
    assert not page.context["cl"].search_fields  # still no search box over message text


@pytest.mark.parametrize(
    "query",
    [
        "app_label=chat&model_name=feedback&field_name=message&term=locker",
        "app_label=chat&model_name=feedback&field_name=message&term=",
        "app_label=chat&model_name=message&field_name=conversation&term=locker",
    ],
)
def test_the_autocomplete_endpoint_gives_no_text_and_no_search(root, secret, query) -> None:
    """/admin/autocomplete/ serves any registered model's search to staff who may view
    it, with each object's str() (a message's starts with its text): closed for both."""
    response = root.get(f"/admin/autocomplete/?{query}")
    assert response.status_code in (403, 404)
    assert SECRET[:20] not in response.content.decode()
    assert "Locker" not in response.content.decode()
    assert audit_rows() == []


# --- Deleting: only with the delete permission, audited -----------------------------


@pytest.fixture
def eraser() -> Client:
    """Staff who may delete conversations (not a superuser)."""
    return staff_client("eraser", "view_conversation", "delete_conversation")


def test_the_delete_confirmation_shows_no_message_text(eraser, secret) -> None:
    conversation, _ = secret
    page = eraser.get(f"{CHANGELIST}{conversation.pk}/delete/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Locker" in html and SECRET not in html and "wrong locker" not in html
    summary = dict(page.context["model_count"])
    assert summary == {"conversations": 1, "messages": 2, "feedbacks": 1}
    assert not page.context["perms_lacking"]  # messages go with their conversation
    assert audit_rows() == []


def test_deleting_from_the_change_page_is_audited(eraser, secret, alice) -> None:
    conversation, _ = secret
    kept, _ = make_conversation(alice, "kept")
    response = eraser.post(f"{CHANGELIST}{conversation.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert Conversation.objects.filter(pk=kept.pk).exists()
    assert audit_rows() == [("eraser", "delete", conversation.pk, "owner=alice")]


def test_the_bulk_delete_action_is_audited_per_conversation(eraser, alice) -> None:
    first, _ = make_conversation(alice, "first")
    second, _ = make_conversation(alice, "second")
    kept, _ = make_conversation(alice, "kept")
    selected = {"action": "delete_selected", "_selected_action": [first.pk, second.pk]}
    confirm = eraser.post(CHANGELIST, selected)
    assert confirm.status_code == 200 and b"Answer to first" not in confirm.content
    assert audit_rows() == []  # the confirmation page deletes nothing
    response = eraser.post(CHANGELIST, {**selected, "post": "yes"})
    assert response.status_code == 302
    assert list(Conversation.objects.values_list("pk", flat=True)) == [kept.pk]
    assert sorted(audit_rows()) == sorted(
        [
            ("eraser", "delete", first.pk, "owner=alice"),
            ("eraser", "delete", second.pk, "owner=alice"),
        ]
    )


@pytest.mark.parametrize(
    "perms", [("view_conversation",), ("view_conversation", "change_conversation")]
)
def test_reviewers_cannot_delete(secret, perms) -> None:
    """Viewing and reviewing do not include erasure: no delete link, no delete action,
    and a POST of either is refused."""
    conversation, _ = secret
    client = staff_client("viewer", *perms)
    page = client.get(f"{CHANGELIST}{conversation.pk}/change/")
    assert page.status_code == 200 and "deletelink" not in page.content.decode()
    actions = client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert "delete_selected" not in {name for name, _ in actions}
    assert client.get(f"{CHANGELIST}{conversation.pk}/delete/").status_code == 403
    assert client.post(f"{CHANGELIST}{conversation.pk}/delete/", {"post": "yes"}).status_code == 403
    refused = client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [conversation.pk], "post": "yes"},
        follow=True,
    )
    assert "No action selected." in refused.content.decode()
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    # The change page and the list pages (their titles) were views; no delete.
    assert {(row[1], row[3]) for row in audit_rows()} == {
        ("view", ""),
        ("view", "conversation list"),
    }


@pytest.mark.parametrize("how", ["change page", "bulk action"])
def test_a_delete_that_cannot_stop_answers_deletes_nothing_and_says_so(
    eraser, secret, settings, how: str
) -> None:
    """The message bus is down (a real Redis client, a port nothing listens on): the
    running answer cannot be told to stop, so nothing is deleted, and the page says why."""
    from chatsite.settings import redis_channel_layer

    settings.CHANNEL_LAYERS = {"default": redis_channel_layer("redis://127.0.0.1:1/0", "pubsub")}
    conversation, _ = secret
    # Its answer is still being written (with none, the delete needs no message bus).
    Message.objects.filter(conversation=conversation, role="assistant").update(status="streaming")
    if how == "change page":
        url, form = f"{CHANGELIST}{conversation.pk}/delete/", {"post": "yes"}
    else:
        url = CHANGELIST
        form = {"action": "delete_selected", "_selected_action": [conversation.pk], "post": "yes"}
    page = eraser.post(url, form, follow=True)
    assert page.status_code == 200
    assert "Nothing was deleted: a running answer could not be told to stop" in (
        page.content.decode()
    )
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert Message.objects.filter(conversation=conversation).count() == 2
    # No delete recorded (the list shown again after a failed bulk delete is a view).
    assert {row[1] for row in audit_rows()} <= {"view"}
