"""Personal API tokens through the real database: the services, the token page, the
command, the admin, and Bearer authentication on HTTP."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from chat.accounts import api_tokens as tokens
from chat.accounts import signals as account_signals
from chat.accounts.sudo import SESSION_KEY as SUDO_SESSION_KEY
from chat.models import ApiToken, Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="secret-pass-123")


@pytest.fixture
def bob():
    return get_user_model().objects.create_user("bob", password="secret-pass-456")


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    return json.loads(response.content)["error"]


# --- Services -----------------------------------------------------------------------


def test_only_the_hash_of_a_new_token_is_stored(alice) -> None:
    token, raw = tokens.token_create(user=alice, name="laptop")
    assert raw.startswith("chat_") and len(raw) == 48
    row = ApiToken.objects.values().get(pk=token.pk)
    assert row["key_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert row["prefix"] == raw[:12]
    assert not any(raw in str(value) for value in row.values())
    assert tokens.token_authenticate(raw) == token


def test_unknown_revoked_and_inactive_tokens_do_not_authenticate(alice, bob) -> None:
    revoked, revoked_raw = tokens.token_create(user=alice, name="old")
    tokens.token_revoke(token=revoked)
    _, bobs_raw = tokens.token_create(user=bob, name="b")
    bob.is_active = False
    bob.save()
    assert tokens.token_authenticate(revoked_raw) is None
    assert tokens.token_authenticate(bobs_raw) is None
    assert tokens.token_authenticate("chat_" + "x" * 43) is None
    assert tokens.token_authenticate("") is None


def test_a_user_may_hold_only_so_many_active_tokens(alice, settings) -> None:
    settings.API_MAX_TOKENS_PER_USER = 2
    first, _ = tokens.token_create(user=alice, name="one")
    tokens.token_create(user=alice, name="two")
    with pytest.raises(tokens.TokenLimitReached, match="revoke one"):
        tokens.token_create(user=alice, name="three")
    tokens.token_revoke(token=first)  # a revoked token frees its place
    tokens.token_create(user=alice, name="three")
    assert tokens.token_list(user=alice).count() == 3


def test_revoking_tells_the_users_sockets_after_the_commit(
    alice, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    told = []
    monkeypatch.setattr(account_signals, "user_changed", told.append)
    token, _ = tokens.token_create(user=alice, name="t")
    with django_capture_on_commit_callbacks(execute=True):
        tokens.token_revoke(token=token)
        assert told == []
    assert told == [alice.pk]
    assert ApiToken.objects.get(pk=token.pk).revoked is not None


def test_last_used_is_written_at_most_once_a_minute(alice) -> None:
    token, raw = tokens.token_create(user=alice, name="t")
    assert token.last_used is None
    tokens.token_authenticate(raw)
    first = ApiToken.objects.get(pk=token.pk).last_used
    assert first is not None
    tokens.token_authenticate(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used == first
    ApiToken.objects.filter(pk=token.pk).update(last_used=first - timedelta(seconds=61))
    tokens.token_authenticate(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used > first


# --- The command --------------------------------------------------------------------


def test_the_command_prints_a_token_that_authenticates(alice) -> None:
    out = StringIO()
    call_command("create_api_token", "alice", "--name", "ci", stdout=out)
    raw = out.getvalue().strip()
    assert out.getvalue() == raw + "\n"  # the token alone, for TOKEN=$(...)
    token = tokens.token_authenticate(raw)
    assert token is not None and token.user == alice and token.name == "ci"


def test_the_command_mints_a_scope_and_a_lifetime(alice) -> None:
    out = StringIO()
    call_command("create_api_token", "alice", stdout=out)
    default = tokens.token_authenticate(out.getvalue().strip())
    assert default is not None and default.scope == "full"
    assert default.expires is not None
    assert abs(default.expires - default.created - timedelta(days=90)) < timedelta(seconds=5)
    out = StringIO()
    call_command("create_api_token", "alice", "--scope", "read", "--days", "0", stdout=out)
    reader = tokens.token_authenticate(out.getvalue().strip())
    assert reader is not None and reader.scope == "read" and reader.expires is None
    with pytest.raises(CommandError, match="--days"):
        call_command("create_api_token", "alice", "--days", "-1", stdout=StringIO())


def test_the_command_refuses_unknown_and_inactive_users(alice) -> None:
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("create_api_token", "nobody", stdout=StringIO())
    alice.is_active = False
    alice.save()
    with pytest.raises(CommandError, match="inactive"):
        call_command("create_api_token", "alice", stdout=StringIO())
    assert not ApiToken.objects.exists()


# --- The token page -----------------------------------------------------------------


@pytest.fixture
def page(alice) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


def csrf(client: Client) -> str:
    response = client.get("/settings/tokens/")
    assert response.status_code == 200
    return response.context["csrf_token"]


PASSWORD = "secret-pass-123"  # alice's


def mint(client: Client, name: str, **fields: str):
    """POST the token form as the page does (full access, 90 days, the password) and
    follow its redirect: the page that shows the new token."""
    data = {"name": name, "scope": "full", "expires": "90", "password": PASSWORD, **fields}
    form = {**data, "csrfmiddlewaretoken": csrf(client)}
    return client.post("/settings/tokens/", form, follow=True)


def test_the_page_creates_a_token_shows_it_once_and_lists_it(page, alice) -> None:
    response = mint(page, "laptop")
    assert response.redirect_chain == [("/settings/tokens/", 302)]  # post/redirect/get
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    raw = response.context["created"]["raw"]
    assert raw.encode() in response.content and b"will not be shown again" in response.content
    token = tokens.token_authenticate(raw)
    assert token is not None and token.user == alice
    again = page.get("/settings/tokens/")
    assert raw.encode() not in again.content  # never again
    assert token.prefix.encode() in again.content and b"laptop" in again.content
    assert raw not in json.dumps(dict(page.session))  # nor kept in the session


def test_reloading_the_page_after_creating_mints_no_second_token(page, alice) -> None:
    """Today: the POST answers the page itself, so a reload posts the form again."""
    data = {"name": "laptop", "scope": "full", "expires": "90", "password": PASSWORD}
    response = page.post("/settings/tokens/", {**data, "csrfmiddlewaretoken": csrf(page)})
    assert response.status_code == 302 and response.url == "/settings/tokens/"
    assert ApiToken.objects.filter(user=alice).count() == 1
    shown = page.get(response.url)
    assert shown.context["created"]["token"].name == "laptop"
    assert page.get(response.url).context["created"] is None  # the reload: once only
    assert ApiToken.objects.filter(user=alice).count() == 1


def test_revoking_asks_to_confirm_first(page, alice, bob) -> None:
    """Today: the list's button revokes at once; GET on the revoke URL is 405."""
    own, _ = tokens.token_create(user=alice, name="mine")
    others, _ = tokens.token_create(user=bob, name="bobs")
    listed = page.get("/settings/tokens/").content.decode()
    assert f'href="/settings/tokens/{own.pk}/revoke/"' in listed  # a link, not a form
    asked = page.get(f"/settings/tokens/{own.pk}/revoke/")
    assert asked.status_code == 200 and b"Revoke the token" in asked.content
    assert b'method="post"' in asked.content and own.prefix.encode() in asked.content
    assert ApiToken.objects.get(pk=own.pk).revoked is None  # asking revokes nothing
    assert page.get(f"/settings/tokens/{others.pk}/revoke/").status_code == 404
    page.post(f"/settings/tokens/{own.pk}/revoke/", {"csrfmiddlewaretoken": csrf(page)})
    gone = page.get(f"/settings/tokens/{own.pk}/revoke/")
    assert gone.status_code == 302 and gone.url == "/settings/tokens/"  # already revoked


def test_the_page_forms_need_the_csrf_token(page, alice) -> None:
    assert page.post("/settings/tokens/", {"name": "x"}).status_code == 403
    token, _ = tokens.token_create(user=alice, name="t")
    assert page.post(f"/settings/tokens/{token.pk}/revoke/").status_code == 403
    assert ApiToken.objects.filter(user=alice).count() == 1
    assert ApiToken.objects.get(pk=token.pk).revoked is None


def test_the_page_validates_the_name_and_the_cap(page, alice, settings) -> None:
    response = mint(page, " ")
    assert response.status_code == 200 and response.context["form"].errors["name"]
    response = mint(page, "x" * 101)
    assert response.context["form"].errors["name"]
    for field, value in (("scope", "admin"), ("expires", "3650")):
        assert mint(page, "x", **{field: value}).context["form"].errors[field]
    settings.API_MAX_TOKENS_PER_USER = 1
    tokens.token_create(user=alice, name="only")
    response = mint(page, "two")
    assert response.context["created"] is None and b"revoke one" in response.content
    assert ApiToken.objects.filter(user=alice).count() == 1


def test_the_page_revokes_own_tokens_only(page, alice, bob) -> None:
    own, _ = tokens.token_create(user=alice, name="mine")
    others, _ = tokens.token_create(user=bob, name="bobs")
    token = csrf(page)
    response = page.post(f"/settings/tokens/{others.pk}/revoke/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 404
    assert ApiToken.objects.get(pk=others.pk).revoked is None
    response = page.post(f"/settings/tokens/{own.pk}/revoke/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response.url == "/settings/tokens/"
    assert ApiToken.objects.get(pk=own.pk).revoked is not None
    listed = page.get("/settings/tokens/")
    assert b"is-revoked" in listed.content and b"Revoked the token" in listed.content


def test_minting_asks_for_the_password_outside_sudo_mode(page, alice, settings) -> None:
    """Sudo mode: no password or a wrong one mints nothing (and a wrong one counts as a
    failed log-in); the right one mints, and for SUDO_MODE_MINUTES the form asks no
    more; after that it asks again."""
    settings.SUDO_MODE_MINUTES = 10
    assert "password" in page.get("/settings/tokens/").context["form"].fields
    missing = mint(page, "laptop", password="")
    assert missing.context["form"].errors["password"] and missing.context["created"] is None
    wrong = mint(page, "laptop", password="not-my-password")
    assert wrong.context["form"].errors["password"] == ["That is not your password."]
    assert not ApiToken.objects.exists()
    assert AccessAttempt.objects.filter(username="alice", failures_since_start=1).exists()
    assert mint(page, "laptop").context["created"] is not None
    form = page.get("/settings/tokens/").context["form"]
    assert "password" not in form.fields  # confirmed a moment ago
    data = {"name": "second", "scope": "read", "expires": "30"}
    assert mint(page, **data, password="ignored").context["created"] is not None

    session = page.session
    session[SUDO_SESSION_KEY] -= 10 * 60 + 1  # confirmed just over ten minutes ago
    session.save()
    assert "password" in page.get("/settings/tokens/").context["form"].fields
    assert mint(page, "third", password="").context["created"] is None
    assert ApiToken.objects.count() == 2


def test_the_page_mints_with_a_scope_and_an_expiry(page, alice) -> None:
    """Each expiry choice gives that lifetime (or none); the list shows scope and expiry."""
    before = timezone.now()
    for expires, days in (("7", 7), ("30", 30), ("90", 90), ("365", 365), ("never", None)):
        created = mint(page, f"t-{expires}", expires=expires, scope="v1").context["created"]
        token = ApiToken.objects.get(pk=created["token"].pk)
        assert token.scope == "v1"
        if days is None:
            assert token.expires is None
        else:
            assert before + timedelta(days=days) <= token.expires
            assert token.expires <= timezone.now() + timedelta(days=days)
    form = page.get("/settings/tokens/").context["form"]
    assert form.initial == {} and form["expires"].value() == "90"  # the default
    assert form["scope"].value() == "full"
    listed = page.get("/settings/tokens/").content.decode()
    assert "the OpenAI-compatible /v1 API only" in listed and "never" in listed


def test_a_password_change_revokes_every_token_and_the_page_says_so(page, alice) -> None:
    """Measured before: a token still answered 200 after a password change. Now the
    change (the account page's form) revokes all active tokens; the page counts them."""
    _, raw = tokens.token_create(user=alice, name="laptop")
    tokens.token_create(user=alice, name="server")
    old, _ = tokens.token_create(user=alice, name="old")
    tokens.token_revoke(token=old)
    client = Client()
    assert client.get("/api/conversations/", **bearer(raw)).status_code == 200
    changed = page.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-pass-7890",
            "new_password2": "a-new-pass-7890",
            "csrfmiddlewaretoken": csrf(page),
        },
    )
    assert changed.status_code == 302
    response = client.get("/api/conversations/", **bearer(raw))
    assert response.status_code == 401 and error_of(response)["code"] == "not_authenticated"
    assert ApiToken.objects.filter(revoked_why="password").count() == 2
    assert ApiToken.objects.get(pk=old.pk).revoked_why == "owner"
    listed = page.get("/settings/tokens/").content.decode()
    assert "2 tokens were revoked when your password changed on" in listed
    assert "(password changed)" in listed


def test_a_password_reset_or_a_shell_change_revokes_the_tokens(alice) -> None:
    """The reset form and `manage.py changepassword` both call set_password()."""
    _, raw = tokens.token_create(user=alice, name="laptop")
    form = SetPasswordForm(
        alice, {"new_password1": "reset-pass-24680", "new_password2": "reset-pass-24680"}
    )
    assert form.is_valid()
    form.save()
    assert tokens.token_authenticate(raw) is None
    _, raw = tokens.token_create(user=alice, name="again")
    alice.set_password("shell-pass-13579")
    alice.save()
    assert tokens.token_authenticate(raw) is None


def test_a_log_in_or_a_hash_upgrade_keeps_the_tokens(alice, settings) -> None:
    """Saving last_login, or the stored hash of the same password upgraded by
    check_password(), is no password change."""
    _, raw = tokens.token_create(user=alice, name="laptop")
    logged_in = Client().post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert logged_in.status_code == 302
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",  # the preferred one: an upgrade
        *settings.PASSWORD_HASHERS,
    ]
    before = alice.password
    assert alice.check_password(PASSWORD) and alice.password != before
    assert tokens.token_authenticate(raw) is not None


def test_the_page_shows_where_and_when_a_token_was_last_used(client, page, alice) -> None:
    token, raw = tokens.token_create(user=alice, name="laptop")
    assert b"never" in page.get("/settings/tokens/").content
    client.get("/api/conversations/", REMOTE_ADDR="192.0.2.44", **bearer(raw))
    used = ApiToken.objects.get(pk=token.pk)
    assert used.last_used_ip == "192.0.2.44"
    assert b"from 192.0.2.44" in page.get("/settings/tokens/").content
    client.get("/api/conversations/", REMOTE_ADDR="192.0.2.45", **bearer(raw))
    assert ApiToken.objects.get(pk=token.pk).last_used_ip == "192.0.2.44"  # within a minute


def test_the_page_needs_a_session_not_a_token(client, alice) -> None:
    response = client.get("/settings/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response.url
    _, raw = tokens.token_create(user=alice, name="t")
    assert client.get("/settings/tokens/", **bearer(raw)).status_code == 403
    assert client.post("/settings/tokens/", {"name": "x"}, **bearer(raw)).status_code == 403
    assert ApiToken.objects.count() == 1


def test_the_chat_page_links_to_the_token_page(page) -> None:
    assert b'href="/settings/tokens/"' in page.get("/").content


# --- HTTP Bearer authentication -----------------------------------------------------


def test_a_token_lists_only_its_users_conversations(client, alice, bob) -> None:
    mine = Conversation.objects.create(owner=alice, title="mine")
    Conversation.objects.create(owner=bob, title="bobs")
    _, raw = tokens.token_create(user=alice, name="t")
    response = client.get("/api/conversations/", **bearer(raw))
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["conversations"]] == [str(mine.pk)]


def test_a_conversation_made_with_a_token_records_the_api_and_the_token(client, alice) -> None:
    token, raw = tokens.token_create(user=alice, name="t")
    made = client.post(
        "/api/conversations/", data="{}", content_type="application/json", **bearer(raw)
    )
    assert made.status_code == 201
    conversation = Conversation.objects.get(pk=made.json()["id"])
    assert (conversation.source, conversation.api_token_id) == ("api", token.pk)
    client.force_login(alice)  # the browser's: web, no token
    made = client.post("/api/conversations/", data="{}", content_type="application/json")
    assert made.status_code == 201
    conversation = Conversation.objects.get(pk=made.json()["id"])
    assert (conversation.source, conversation.api_token_id) == ("web", None)


def test_another_users_conversation_is_404_with_a_token(client, alice, bob) -> None:
    bobs = Conversation.objects.create(owner=bob, title="bobs")
    _, raw = tokens.token_create(user=alice, name="t")
    response = client.get(f"/api/conversations/{bobs.pk}/", **bearer(raw))
    assert response.status_code == 404
    assert client.delete(f"/api/conversations/{bobs.pk}/", **bearer(raw)).status_code == 404
    assert Conversation.objects.filter(pk=bobs.pk).exists()


def test_the_token_wins_over_the_session_cookie(client, alice, bob) -> None:
    Conversation.objects.create(owner=bob, title="bobs")
    client.force_login(bob)
    _, raw = tokens.token_create(user=alice, name="t")
    response = client.get("/api/conversations/", **bearer(raw))
    assert response.json()["conversations"] == []  # alice's, not bob's


@pytest.mark.parametrize("kind", ["unknown", "revoked", "malformed", "empty"])
def test_a_bad_token_is_401_json(client, alice, kind) -> None:
    token, raw = tokens.token_create(user=alice, name="t")
    if kind == "revoked":
        tokens.token_revoke(token=token)
    header = {
        "unknown": "Bearer chat_" + "A" * 43,
        "revoked": f"Bearer {raw}",
        "malformed": "Bearer chat_ has spaces",
        "empty": "Bearer ",
    }[kind]
    client.force_login(alice)  # a valid session does not rescue a bad token
    response = client.get("/api/conversations/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    response = client.get("/v1/models", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401  # answered before URL resolution (no /v1 view here)
    assert error_of(response) == {
        "message": error_of(response)["message"],
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


def test_a_bearer_post_needs_no_csrf_token(alice) -> None:
    _, raw = tokens.token_create(user=alice, name="t")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/conversations/",
        {"title": "by script"},
        content_type="application/json",
        **bearer(raw),
    )
    assert response.status_code == 201
    assert Conversation.objects.get(pk=response.json()["id"]).owner == alice


def test_a_session_post_without_csrf_is_still_refused(alice) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(
        "/api/conversations/", {"title": "forged"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert not Conversation.objects.exists()


def test_a_bearer_request_records_last_used(client, alice) -> None:
    token, raw = tokens.token_create(user=alice, name="t")
    before = timezone.now()
    assert client.get("/api/conversations/", **bearer(raw)).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used >= before


def test_a_token_does_not_open_the_admin_or_the_account_pages(client, alice) -> None:
    alice.is_staff = alice.is_superuser = True
    alice.save()
    _, raw = tokens.token_create(user=alice, name="t")
    for path in ("/admin/", "/accounts/password_change/"):
        response = client.get(path, **bearer(raw))
        assert response.status_code == 403 and error_of(response)["code"] == "not_allowed"


# --- The admin ----------------------------------------------------------------------


@pytest.fixture
def reviewer(client):
    """Staff with the token model's view and change permissions only."""
    user = get_user_model().objects.create_user("rev", password="pw-rev-123456", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_apitoken", "change_apitoken"])
    )
    client.force_login(user)
    return client


def test_the_admin_lists_and_searches_tokens_without_their_hash(reviewer, alice, bob) -> None:
    token, raw = tokens.token_create(user=alice, name="laptop")
    tokens.token_create(user=bob, name="server")
    page = reviewer.get("/admin/chat/apitoken/")
    assert page.status_code == 200
    assert b"laptop" in page.content and b"server" in page.content
    assert b"create_api_token" in page.content  # where tokens come from
    assert token.key_hash.encode() not in page.content and raw.encode() not in page.content
    found = reviewer.get("/admin/chat/apitoken/", {"q": "alice"})
    assert b"laptop" in found.content and b"server" not in found.content
    change = reviewer.get(f"/admin/chat/apitoken/{token.pk}/change/")
    assert change.status_code == 200 and token.key_hash.encode() not in change.content
    assert reviewer.get("/admin/chat/apitoken/add/").status_code == 403


def test_the_admin_revokes_selected_tokens(reviewer, alice, monkeypatch) -> None:
    told = []
    monkeypatch.setattr(account_signals, "user_changed", told.append)
    token, raw = tokens.token_create(user=alice, name="laptop")
    response = reviewer.post(
        "/admin/chat/apitoken/",
        {"action": "revoke_selected", "_selected_action": [token.pk]},
        follow=True,
    )
    assert response.status_code == 200 and b"1 token(s) revoked" in response.content
    assert tokens.token_authenticate(raw) is None


def test_the_conversation_admin_shows_source_and_token(reviewer, alice) -> None:
    superuser = get_user_model().objects.create_superuser("root", password="pw-root-123456")
    client = Client()
    client.force_login(superuser)
    token, _ = tokens.token_create(user=alice, name="laptop")
    conversation = Conversation.objects.create(
        owner=alice, source=Conversation.Source.OPENAI, api_token=token
    )
    listed = client.get("/admin/chat/conversation/", {"source": "openai"})
    assert listed.status_code == 200 and str(conversation.pk)[:8].encode() in listed.content
    assert (
        client.get("/admin/chat/conversation/", {"source": "web"}).context["cl"].result_count == 0
    )
    page = client.get(f"/admin/chat/conversation/{conversation.pk}/change/")
    assert f"laptop ({token.prefix}…)".encode() in page.content
