"""The webhooks' JSON API (/api/webhooks/): a user's own subscriptions, the SSRF rule
at subscribe time, pause and resume, recent deliveries; a session or an API token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat.accounts import api_tokens
from chat.models import Conversation, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db(transaction=True)

HOOK = "http://127.0.0.1:9/hook"  # loopback: allowed by the operator's setting below


@pytest.fixture(autouse=True)
def loopback_allowed(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


def login(name: str) -> tuple[Any, Client]:
    user = get_user_model().objects.create_user(name, password="x-pass-123")
    client = Client()
    client.force_login(user)
    return user, client


def send(client: Client, method: str, path: str, body: Any = None, **extra: Any) -> Any:
    data = None if body is None else json.dumps(body)
    return getattr(client, method)(path, data, content_type="application/json", **extra)


def test_a_user_subscribes_and_sees_the_secret_once_made() -> None:
    user, client = login("alice")
    conversation = Conversation.objects.create(owner=user)
    body = {
        "url": HOOK,
        "mode": "clause",
        "format": "slack",
        "conversation_id": str(conversation.pk),
    }
    made = send(client, "post", "/api/webhooks/", body)
    assert made.status_code == 201
    data = made.json()
    assert data["secret"].startswith("whsec_")
    assert (data["mode"], data["format"], data["active"]) == ("clause", "slack", True)
    assert data["conversation_id"] == str(conversation.pk)
    listed = client.get("/api/webhooks/").json()["webhooks"]
    assert [w["id"] for w in listed] == [data["id"]] and "secret" not in listed[0]
    one = client.get(f"/api/webhooks/{data['id']}/").json()
    assert one["secret"] == data["secret"]


def test_defaults_are_sentence_mode_and_our_json() -> None:
    _, client = login("alice")
    data = send(client, "post", "/api/webhooks/", {"url": HOOK}).json()
    assert (data["mode"], data["format"], data["conversation_id"]) == ("sentence", "json", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": HOOK, "mode": "token"}, "mode"),
        ({"url": HOOK, "format": "teams"}, "format"),
        ({"url": "ftp://example.com/x"}, "url"),
    ],
)
def test_bad_fields_are_named(body: dict[str, Any], field: str) -> None:
    _, client = login("alice")
    refused = send(client, "post", "/api/webhooks/", body)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid"
    assert field in refused.json()["error"]["fields"]


def test_private_targets_are_refused_without_the_operator_setting(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    _, client = login("alice")
    for url in (HOOK, "http://localhost/x", "http://169.254.169.254/latest/", "http://[::1]/"):
        refused = send(client, "post", "/api/webhooks/", {"url": url})
        assert refused.status_code == 400, url
        assert refused.json()["error"]["fields"]["url"][0]["code"] == "refused"
    assert not WebhookSubscription.objects.exists()


def test_another_users_conversation_and_webhook_are_not_found() -> None:
    alice, alices = login("alice")
    _, bobs = login("bob")
    conversation = Conversation.objects.create(owner=alice)
    body = {"url": HOOK, "conversation_id": str(conversation.pk)}
    assert send(bobs, "post", "/api/webhooks/", body).status_code == 404
    mine = send(alices, "post", "/api/webhooks/", {"url": HOOK}).json()
    for method in ("get", "patch", "delete"):
        body = None if method == "get" else {}
        assert send(bobs, method, f"/api/webhooks/{mine['id']}/", body).status_code == 404
    assert bobs.get(f"/api/webhooks/{mine['id']}/deliveries/").status_code == 404
    assert bobs.get("/api/webhooks/").json() == {"webhooks": []}


def test_a_paused_webhook_shows_why_and_a_patch_resumes_it() -> None:
    """The owner is told: the reason and the failures in a row; resuming clears them
    and makes the waiting rows due at once."""
    _, client = login("alice")
    made = send(client, "post", "/api/webhooks/", {"url": HOOK}).json()
    WebhookSubscription.objects.filter(pk=made["id"]).update(
        active=False, paused_reason="Paused after 10 failed deliveries", consecutive_failures=10
    )
    row = WebhookDelivery.objects.create(
        subscription_id=made["id"],
        message_id="8d0c4a8e-0000-4000-8000-000000000001",
        seq=0,
        body={"text": "hi"},
        attempts=10,
        last_error="HTTP 500",
        response_status=500,
    )
    shown = client.get(f"/api/webhooks/{made['id']}/").json()
    assert (shown["active"], shown["consecutive_failures"]) == (False, 10)
    assert "10 failed" in shown["paused_reason"]
    deliveries = client.get(f"/api/webhooks/{made['id']}/deliveries/").json()["deliveries"]
    assert deliveries[0]["last_error"] == "HTTP 500" and deliveries[0]["status"] == "pending"
    resumed = send(client, "patch", f"/api/webhooks/{made['id']}/", {"active": True}).json()
    assert (resumed["active"], resumed["paused_reason"], resumed["consecutive_failures"]) == (
        True,
        "",
        0,
    )
    row.refresh_from_db()
    assert row.status == "pending"
    paused = send(client, "patch", f"/api/webhooks/{made['id']}/", {"active": False}).json()
    assert (paused["active"], paused["paused_reason"]) == (False, "Paused by its owner.")


def test_a_webhook_is_changed_and_deleted() -> None:
    _, client = login("alice")
    made = send(client, "post", "/api/webhooks/", {"url": HOOK}).json()
    path = f"/api/webhooks/{made['id']}/"
    changed = send(client, "patch", path, {"mode": "line", "format": "discord"}).json()
    assert (changed["mode"], changed["format"], changed["url"]) == ("line", "discord", HOOK)
    assert send(client, "delete", path).status_code == 204
    assert client.get(path).status_code == 404


def test_an_api_token_works_and_no_login_is_401() -> None:
    user, _ = login("alice")
    _, raw = api_tokens.token_create(user=user, name="script")
    client = Client()
    made = send(client, "post", "/api/webhooks/", {"url": HOOK}, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert made.status_code == 201
    anonymous = Client().get("/api/webhooks/")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
