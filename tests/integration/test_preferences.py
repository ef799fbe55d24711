"""A user's preferences through the real database: the settings page (post/redirect/
get), /api/preferences/, the default instructions of new conversations, and the theme
the pages are rendered in."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chat.accounts import api_tokens as tokens
from chat.conversations.limits import MAX_INSTRUCTIONS_CHARS
from chat.models import Conversation, UserPreferences

pytestmark = pytest.mark.django_db

FRENCH = "Answer in French."


@pytest.fixture
def alice() -> Any:
    return get_user_model().objects.create_user("alice", password="secret-pass-123")


@pytest.fixture
def bob() -> Any:
    return get_user_model().objects.create_user("bob", password="secret-pass-456")


def signed_in(user: Any) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf(client: Client) -> str:
    response = client.get("/settings/")
    assert response.status_code == 200
    return str(response.context["csrf_token"])


def api(client: Client, method: str, path: str, body: Any = None) -> Any:
    """A JSON request as the chat page sends it (the session, the CSRF header)."""
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return getattr(client, method)(
        path, data, content_type="application/json", HTTP_X_CSRFTOKEN=csrf(client)
    )


def checked_theme(html: str) -> list[str]:
    return re.findall(r'name="theme" value="(\w+)"[^>]*\bchecked', html)


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def page_config(client: Client) -> dict[str, Any]:
    response = client.get("/")
    assert response.status_code == 200
    return dict(response.context["config"])


# --- The settings page ----------------------------------------------------------------


def test_the_page_saves_then_redirects_and_says_so(alice) -> None:
    page = signed_in(alice)
    form = {"default_instructions": f"  {FRENCH}  ", "theme": "dark"}
    response = page.post("/settings/", {**form, "csrfmiddlewaretoken": csrf(page)})
    assert response.status_code == 302 and response.url == "/settings/"  # post/redirect/get
    saved = UserPreferences.objects.get(user=alice)
    assert (saved.default_instructions, saved.theme) == (FRENCH, "dark")
    shown = page.get(response.url).content.decode()
    assert "Your settings are saved." in shown
    assert FRENCH in shown and checked_theme(shown) == ["dark"]
    assert "Your settings are saved." not in page.get("/settings/").content.decode()  # once


def test_the_page_shows_the_defaults_before_any_save(alice) -> None:
    shown = signed_in(alice).get("/settings/").content.decode()
    assert checked_theme(shown) == ["system"]
    assert "Default instructions for new chats" in shown and "Appearance" in shown
    assert 'aria-describedby="id_default_instructions_helptext"' in shown
    assert not UserPreferences.objects.exists()  # a read makes no row


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (
            {"default_instructions": "x" * (MAX_INSTRUCTIONS_CHARS + 1), "theme": "light"},
            "default_instructions",
        ),
        ({"default_instructions": FRENCH, "theme": "sepia"}, "theme"),
        ({"default_instructions": FRENCH}, "theme"),
    ],
)
def test_the_page_refuses_an_invalid_form_and_saves_nothing(alice, form, field) -> None:
    page = signed_in(alice)
    response = page.post("/settings/", {**form, "csrfmiddlewaretoken": csrf(page)})
    assert response.status_code == 200 and list(response.context["form"].errors) == [field]
    assert 'class="errorlist' in response.content.decode()
    assert not UserPreferences.objects.exists()


def test_the_page_needs_the_csrf_token_and_a_session(alice) -> None:
    page = signed_in(alice)
    assert page.post("/settings/", {"theme": "dark"}).status_code == 403
    assert not UserPreferences.objects.exists()
    anonymous = Client().get("/settings/")
    assert anonymous.status_code == 302 and anonymous.url.startswith("/accounts/login/")


def test_the_chat_page_and_the_token_page_link_to_it(alice) -> None:
    page = signed_in(alice)
    assert 'href="/settings/"' in page.get("/").content.decode()
    assert 'href="/settings/"' in page.get("/settings/tokens/").content.decode()


# --- /api/preferences/ ------------------------------------------------------------------


def test_api_reads_and_changes_the_preferences(alice) -> None:
    client = signed_in(alice)
    assert client.get("/api/preferences/").json() == {
        "theme": "system",
        "default_instructions": "",
        "speech_voice": "",
    }
    changed = api(client, "patch", "/api/preferences/", {"theme": "light"})
    assert changed.status_code == 200
    assert changed.json() == {"theme": "light", "default_instructions": "", "speech_voice": ""}
    changed = api(client, "patch", "/api/preferences/", {"default_instructions": FRENCH})
    assert changed.json()["default_instructions"] == FRENCH
    assert changed.json()["theme"] == "light"  # kept
    assert client.get("/api/preferences/").json()["default_instructions"] == FRENCH
    changed = api(client, "patch", "/api/preferences/", {"speech_voice": "en-gb"})
    assert changed.json()["speech_voice"] == "en-gb"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"theme": "blue"}, "theme"),
        ({"theme": None}, "theme"),
        ({"default_instructions": "x" * (MAX_INSTRUCTIONS_CHARS + 1)}, "default_instructions"),
        ({"default_instructions": 7}, "default_instructions"),
        ({"speech_voice": "en gb; rm -rf"}, "speech_voice"),
        ({"speech_voice": "x" * 41}, "speech_voice"),
        ({"speech_voice": 3}, "speech_voice"),
    ],
)
def test_api_refuses_invalid_preferences_in_its_error_shape(alice, body, field) -> None:
    response = api(signed_in(alice), "patch", "/api/preferences/", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == [field]
    assert error["message"] == f"The preferences is not valid: {field}."
    assert not UserPreferences.objects.exists()


def test_api_refuses_a_body_that_is_not_an_object_anonymous_users_and_posts(alice) -> None:
    client = signed_in(alice)
    for body in ("[1]", "not json"):
        response = api(client, "patch", "/api/preferences/", body)
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
    anonymous = Client().get("/api/preferences/")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert api(client, "post", "/api/preferences/", {"theme": "dark"}).status_code == 405
    no_csrf = client.patch(
        "/api/preferences/", json.dumps({"theme": "dark"}), content_type="application/json"
    )
    assert no_csrf.status_code == 403
    assert not UserPreferences.objects.exists()


# --- Default instructions -------------------------------------------------------------


def test_a_new_conversation_gets_the_default_unless_told_otherwise(alice) -> None:
    client = signed_in(alice)
    api(client, "patch", "/api/preferences/", {"default_instructions": FRENCH})
    created = api(client, "post", "/api/conversations/", {}).json()
    assert created["instructions"] == FRENCH
    read = client.get(f"/api/conversations/{created['id']}/").json()
    assert read["instructions"] == FRENCH  # the conversation's own, as if typed
    explicit = api(client, "post", "/api/conversations/", {"instructions": "Be brief."}).json()
    cleared = api(client, "post", "/api/conversations/", {"instructions": ""}).json()
    assert (explicit["instructions"], cleared["instructions"]) == ("Be brief.", "")
    api(client, "patch", "/api/preferences/", {"default_instructions": "Be formal."})
    assert Conversation.objects.get(pk=created["id"]).instructions == FRENCH  # unchanged
    assert api(client, "post", "/api/conversations/", {}).json()["instructions"] == "Be formal."


def test_another_users_default_never_leaks(alice, bob) -> None:
    api(signed_in(alice), "patch", "/api/preferences/", {"default_instructions": FRENCH})
    others = signed_in(bob)
    assert api(others, "post", "/api/conversations/", {}).json()["instructions"] == ""
    assert others.get("/api/preferences/").json()["default_instructions"] == ""
    config = page_config(others)
    assert config["default_instructions"] == "" and config["theme"] == "system"
    assert FRENCH not in others.get("/").content.decode()
    assert page_config(signed_in(alice))["default_instructions"] == FRENCH


# --- The theme the pages are rendered in ----------------------------------------------


@pytest.mark.parametrize(
    ("theme", "html", "dark_code_media"),
    [
        ("system", '<html lang="en">', 'media="(prefers-color-scheme: dark)"'),
        ("light", '<html lang="en" data-theme="light">', 'media="not all"'),
        ("dark", '<html lang="en" data-theme="dark">', 'media="all"'),
    ],
)
def test_the_pages_are_rendered_in_the_chosen_theme(alice, theme, html, dark_code_media) -> None:
    client = signed_in(alice)
    api(client, "patch", "/api/preferences/", {"theme": theme})
    chat = client.get("/").content.decode()
    assert html in chat and f'data-choice="{theme}"' in chat
    dark_code = 'id="code-theme-dark" href="/static/vendor/highlight/github-dark.min.css"'
    assert f"{dark_code} {dark_code_media}" in chat
    for path in ("/settings/", "/settings/tokens/"):
        assert html in client.get(path).content.decode()


def test_signed_out_pages_follow_the_device(alice) -> None:
    UserPreferences.objects.create(user=alice, theme="dark")
    for path in ("/accounts/login/", "/accounts/signup/"):
        page = Client().get(path).content.decode()
        assert '<html lang="en">' in page and "data-theme" not in page


def test_a_page_reads_the_preferences_once(alice) -> None:
    """The view (the chat page's config) and the template (the theme) share one read."""
    UserPreferences.objects.create(user=alice, theme="dark", default_instructions=FRENCH)
    client = signed_in(alice)
    for path in ("/", "/settings/tokens/"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        reads = [q for q in queries.captured_queries if "chat_userpreferences" in q["sql"]]
        assert len(reads) == 1, path


def test_a_scripts_new_conversation_gets_the_default_and_a_read_token_changes_nothing(
    alice,
) -> None:
    """POST /api/conversations/ with an API token is a door like the page's."""
    UserPreferences.objects.create(user=alice, default_instructions=FRENCH)
    _, full = tokens.token_create(user=alice, name="script")
    _, read = tokens.token_create(user=alice, name="reader", scope="read")
    script = Client()
    created = script.post(
        "/api/conversations/", "{}", content_type="application/json", **bearer(full)
    )
    assert created.status_code == 201 and created.json()["instructions"] == FRENCH
    assert Conversation.objects.get(pk=created.json()["id"]).source == "api"
    assert script.get("/api/preferences/", **bearer(read)).json()["theme"] == "system"
    refused = script.patch(
        "/api/preferences/", '{"theme": "dark"}', content_type="application/json", **bearer(read)
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_allowed"
    assert UserPreferences.objects.get(user=alice).theme == "system"
    assert script.get("/settings/", **bearer(full)).status_code == 403  # a session page


def test_staff_see_the_preferences_read_only_in_the_admin(alice) -> None:
    UserPreferences.objects.create(user=alice, theme="dark", default_instructions=FRENCH)
    staff = get_user_model().objects.create_superuser("root-admin", password="secret-pass-789")
    admin = Client()
    admin.force_login(staff)
    listed = admin.get("/admin/chat/userpreferences/")
    assert listed.status_code == 200
    page = listed.content.decode()
    assert "alice" in page and FRENCH in page and "Dark" in page
    detail = admin.get(f"/admin/chat/userpreferences/{alice.pk}/change/")
    assert detail.status_code == 200 and FRENCH in detail.content.decode()
    assert 'name="default_instructions"' not in detail.content.decode()  # read-only
    assert admin.get("/admin/chat/userpreferences/add/").status_code == 403
