"""Per-conversation settings (model, instructions, temperature) and saved presets
through the JSON API, with the real database and, for the tabs, a real channel layer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from chat.models import Conversation, Preset
from tests.integration.conftest import make_conversation, make_user, open_socket, receive

MODELS = json.dumps(
    [{"name": "alpha", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-not-used"}]
)


@pytest.fixture(autouse=True)
def two_models(settings: Any) -> None:
    """`alpha` (the default, never called here) and the offline demo model."""
    settings.LLM_MODELS = MODELS
    settings.LLM_FACTORY = ""


@pytest.fixture
def alice(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_user("alice", password="x-pass-123"))
    return client


@pytest.fixture
def bob() -> Client:
    bob = Client()
    bob.force_login(get_user_model().objects.create_user("bob", password="x-pass-123"))
    return bob


def send(client: Client, method: str, path: str, body: Any = None) -> Any:
    return getattr(client, method)(path, body, content_type="application/json")


@pytest.mark.django_db
def test_models_lists_the_configured_ones_default_first(alice: Client) -> None:
    data = alice.get("/api/models/").json()
    assert [m["key"] for m in data["models"]] == ["alpha", "demo-offline"]
    assert data["default"] == "alpha"
    page = alice.get("/")
    assert b'"key": "demo-offline"' in page.content  # the page config has them too


@pytest.mark.django_db
def test_presets_create_list_edit_delete(alice: Client) -> None:
    """Listed by name; a PATCH changes only the fields it holds; DELETE removes it."""
    made = send(
        alice,
        "post",
        "/api/presets/",
        {"name": " Tutor ", "instructions": "Be Socratic.", "model": "demo-offline"},
    )
    assert made.status_code == 201
    tutor = made.json()
    assert tutor["name"] == "Tutor" and tutor["temperature"] is None
    send(alice, "post", "/api/presets/", {"name": "Editor", "temperature": 0.2})
    listed = alice.get("/api/presets/").json()["presets"]
    assert [p["name"] for p in listed] == ["Editor", "Tutor"]
    edited = send(alice, "patch", f"/api/presets/{tutor['id']}/", {"temperature": 1.5})
    assert edited.status_code == 200
    assert edited.json() == {**tutor, "temperature": 1.5}
    assert send(alice, "delete", f"/api/presets/{tutor['id']}/").status_code == 204
    assert [p["name"] for p in alice.get("/api/presets/").json()["presets"]] == ["Editor"]


@pytest.mark.django_db
def test_preset_names_are_unique_per_user(alice: Client, bob: Client) -> None:
    first = send(alice, "post", "/api/presets/", {"name": "Tutor"}).json()
    again = send(alice, "post", "/api/presets/", {"name": "Tutor"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid"
    assert "already have a preset" in again.json()["error"]["message"]
    other = send(alice, "post", "/api/presets/", {"name": "Other"}).json()
    renamed = send(alice, "patch", f"/api/presets/{other['id']}/", {"name": "Tutor"})
    assert renamed.status_code == 409
    assert send(bob, "post", "/api/presets/", {"name": "Tutor"}).status_code == 201
    assert Preset.objects.get(pk=first["id"]).name == "Tutor"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "model": "gpt-nope"}, "model"),
        ({"name": "ok", "temperature": 2.5}, "temperature"),
        ({"name": "ok", "temperature": True}, "temperature"),
        ({"name": "ok", "instructions": "x" * 8001}, "instructions"),
    ],
)
@pytest.mark.django_db
def test_preset_validation_names_the_field(alice: Client, body: dict, field: str) -> None:
    response = send(alice, "post", "/api/presets/", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == [field]
    assert field in error["message"]
    assert not Preset.objects.exists()


@pytest.mark.django_db
def test_another_users_preset_is_not_found_and_never_copied(alice: Client, bob: Client) -> None:
    theirs = send(bob, "post", "/api/presets/", {"name": "Secret", "instructions": "hidden"})
    preset_id = theirs.json()["id"]
    assert alice.get("/api/presets/").json() == {"presets": []}
    for method in ("get", "patch", "delete"):
        response = send(alice, method, f"/api/presets/{preset_id}/", {"name": "mine"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert send(alice, "get", "/api/presets/not-a-number/").status_code == 404
    started = send(alice, "post", "/api/conversations/", {"preset": preset_id})
    assert started.status_code == 404
    assert not Conversation.objects.filter(instructions="hidden").exists()
    assert Preset.objects.get(pk=preset_id).name == "Secret"


@pytest.mark.django_db
def test_new_conversation_from_a_preset_copies_its_settings(alice: Client) -> None:
    preset = send(
        alice,
        "post",
        "/api/presets/",
        {
            "name": "Pirate",
            "instructions": "Talk like a pirate.",
            "model": "demo-offline",
            "temperature": 0.9,
        },
    ).json()
    created = send(alice, "post", "/api/conversations/", {"preset": preset["id"]})
    assert created.status_code == 201
    data = created.json()
    assert (data["model"], data["instructions"], data["temperature"]) == (
        "demo-offline",
        "Talk like a pirate.",
        0.9,
    )
    send(alice, "patch", f"/api/presets/{preset['id']}/", {"instructions": "Changed."})
    read = alice.get(f"/api/conversations/{data['id']}/").json()
    assert read["instructions"] == "Talk like a pirate."  # a copy, not a link
    plain = send(alice, "post", "/api/conversations/", {}).json()
    assert (plain["model"], plain["instructions"], plain["temperature"]) == ("", "", None)


@pytest.mark.django_db
def test_patch_conversation_settings(alice: Client) -> None:
    """Each field alone; the others stay; "" and null go back to the defaults."""
    conversation = send(alice, "post", "/api/conversations/", {"title": "T"}).json()
    url = f"/api/conversations/{conversation['id']}/"
    assert send(alice, "patch", url, {"model": "demo-offline"}).json()["model"] == "demo-offline"
    data = send(alice, "patch", url, {"instructions": "Be brief.", "temperature": 0}).json()
    assert (data["title"], data["model"], data["instructions"], data["temperature"]) == (
        "T",
        "demo-offline",
        "Be brief.",
        0.0,
    )
    data = send(alice, "patch", url, {"model": "", "temperature": None}).json()
    assert (data["model"], data["instructions"], data["temperature"]) == ("", "Be brief.", None)
    saved = Conversation.objects.get(pk=conversation["id"])
    assert (saved.model, saved.instructions, saved.temperature) == ("", "Be brief.", None)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"model": "gpt-nope"}, "model"),
        ({"instructions": "x" * 8001}, "instructions"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 2.01}, "temperature"),
        ({"temperature": "warm"}, "temperature"),
        ({"title": "x" * 201}, "title"),
    ],
)
@pytest.mark.django_db
def test_patch_conversation_refuses_bad_settings(alice: Client, body: dict, field: str) -> None:
    conversation = send(alice, "post", "/api/conversations/", {}).json()
    response = send(alice, "patch", f"/api/conversations/{conversation['id']}/", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == [field]
    assert field in error["message"]
    saved = Conversation.objects.get(pk=conversation["id"])
    assert (saved.title, saved.model, saved.instructions, saved.temperature) == ("", "", "", None)


@pytest.mark.django_db
def test_patch_saves_even_when_the_channel_layer_fails(alice: Client, monkeypatch, caplog) -> None:
    """The tabs are told best effort: a broken bus is logged, the change is saved."""

    class BrokenLayer:
        async def group_send(self, group: str, message: dict) -> None:
            raise ConnectionError("redis is down")

    monkeypatch.setattr("chat.conversations.services.get_channel_layer", lambda: BrokenLayer())
    conversation = send(alice, "post", "/api/conversations/", {}).json()
    response = send(
        alice, "patch", f"/api/conversations/{conversation['id']}/", {"instructions": "Saved."}
    )
    assert response.status_code == 200 and response.json()["instructions"] == "Saved."
    assert Conversation.objects.get(pk=conversation["id"]).instructions == "Saved."
    assert "could not tell the tabs" in caplog.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("redis_layer")
async def test_patch_sends_every_open_tab_a_conversation_frame() -> None:
    """Two sockets of the conversation both get `conversation` with the new settings;
    the history of a later one has them too."""
    user = await make_user()
    conversation = await make_conversation(user)
    tabs = [await open_socket(user, conversation) for _ in range(2)]
    for tab in tabs:
        assert (await receive(tab))["type"] == "history"
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    body = {"model": "demo-offline", "instructions": "Rhyme.", "temperature": 1.2}
    response = await database_sync_to_async(send)(
        client, "patch", f"/api/conversations/{conversation.pk}/", body
    )
    assert response.status_code == 200
    for tab in tabs:
        frame = await receive(tab)
        assert frame == {
            "type": "conversation",
            "conversation": {
                "id": str(conversation.pk),
                "title": "",
                **body,
                "pinned": False,
                "archived": False,
                "temporary": False,
                "expires": None,
            },
        }
    late = await open_socket(user, conversation)
    history = await receive(late)
    assert history["conversation"]["instructions"] == "Rhyme."
    assert history["model"] == "demo-offline"
    for tab in [*tabs, late]:
        await tab.disconnect()
