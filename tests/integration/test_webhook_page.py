"""The webhooks page (/settings/webhooks/, issue #23) as a user works it, by its forms:
subscribe a URL to one conversation or to all, see recent posts and failures, be told
on the chat page when one is paused by failures, resume, pause and delete it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat.accounts import api_tokens
from chat.models import Conversation, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db(transaction=True)

HOOK = "http://127.0.0.1:9/hook"
PAGE = "/settings/webhooks/"


def login(name: str) -> tuple[Any, Client]:
    user = get_user_model().objects.create_user(name, password="x-pass-123")
    client = Client()
    client.force_login(user)
    return user, client


def add(client: Client, **fields: str) -> Any:
    data = {"url": HOOK, "conversation": "", "mode": "sentence", "format": "slack", **fields}
    return client.post(PAGE, data)


def test_a_user_adds_a_webhook_for_all_or_one_conversation(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    user, client = login("alice")
    garden = Conversation.objects.create(owner=user, title="Garden plans")
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "Garden plans" in page.content.decode()  # offered in the form

    response = add(client)
    assert response.status_code == 302 and response["Location"] == PAGE  # post/redirect/get
    response = add(client, conversation=str(garden.pk), mode="end", format="json")
    assert response.status_code == 302
    made = list(WebhookSubscription.objects.filter(owner=user).order_by("created"))
    assert [(s.conversation_id, s.mode, s.format) for s in made] == [
        (None, "sentence", "slack"),
        (garden.pk, "end", "json"),
    ]
    shown = client.get(PAGE).content.decode()
    assert "Webhook added." in shown
    assert "Answers of all your conversations" in shown
    assert "Answers of “Garden plans”" in shown
    assert made[0].secret in shown  # the signing secret, under its disclosure


def test_a_private_address_or_a_stranger_conversation_is_refused(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    _, client = login("alice")
    response = add(client)
    assert response.status_code == 200
    assert "This address is refused" in response.content.decode()
    other, _ = login("bob")
    theirs = Conversation.objects.create(owner=other, title="Bob's")
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    response = add(client, conversation=str(theirs.pk))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_failures_are_shown_told_on_the_chat_page_and_resumed() -> None:
    user, client = login("alice")
    hook = WebhookSubscription.objects.create(owner=user, url=HOOK, secret="s" * 32)
    answer = uuid.uuid4()
    WebhookDelivery.objects.create(
        subscription=hook, message_id=answer, seq=0, body={}, status="delivered",
        attempts=1, response_status=200,
    )  # fmt: skip
    WebhookDelivery.objects.create(
        subscription=hook, message_id=answer, seq=1, body={}, status="pending",
        attempts=3, last_error="HTTP 500 from the receiver", response_status=500,
    )  # fmt: skip
    assert "webhooks-paused" not in client.get("/").content.decode()
    # Paused by failures: the chat page says so and links to the page.
    WebhookSubscription.objects.filter(pk=hook.pk).update(
        active=False, paused_reason="Failed 10 times in a row: HTTP 500.", consecutive_failures=10
    )
    chat = client.get("/").content.decode()
    assert 'id="webhooks-paused"' in chat and PAGE in chat
    page = client.get(PAGE).content.decode()
    assert "Failed 10 times in a row: HTTP 500." in page
    assert "HTTP 500 from the receiver" in page and "delivery-delivered" in page

    assert client.post(f"{PAGE}{hook.pk}/", {"action": "resume"}).status_code == 302
    hook.refresh_from_db()
    assert (hook.active, hook.paused_reason, hook.consecutive_failures) == (True, "", 0)
    assert "webhooks-paused" not in client.get("/").content.decode()
    # Paused by its owner: nothing to be told about.
    client.post(f"{PAGE}{hook.pk}/", {"action": "pause"})
    hook.refresh_from_db()
    assert not hook.active
    assert "webhooks-paused" not in client.get("/").content.decode()
    assert client.post(f"{PAGE}{hook.pk}/", {"action": "delete"}).status_code == 302
    assert not WebhookSubscription.objects.exists()


def test_another_users_webhook_and_a_token_are_refused() -> None:
    owner, _ = login("alice")
    hook = WebhookSubscription.objects.create(owner=owner, url=HOOK, secret="s" * 32)
    _, stranger = login("bob")
    assert stranger.post(f"{PAGE}{hook.pk}/", {"action": "delete"}).status_code == 404
    assert "webhooks-paused" not in stranger.get("/").content.decode()
    _, raw = api_tokens.token_create(user=owner, name="script")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert Client().get(PAGE, **bearer).status_code in (401, 403)
    assert Client().post(f"{PAGE}{hook.pk}/", {"action": "delete"}, **bearer).status_code in (
        401,
        403,
    )
    assert WebhookSubscription.objects.filter(pk=hook.pk).exists()


def test_the_twenty_first_webhook_is_refused_on_the_page_and_the_api(settings: Any) -> None:
    """One cap (chat/webhooks/services.py) for both doors: a form error on the page, a
    409 from the API; nothing made."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    user, client = login("alice")
    WebhookSubscription.objects.bulk_create(
        [WebhookSubscription(owner=user, url=HOOK, secret="s" * 32) for _ in range(20)]
    )
    page = add(client)
    assert page.status_code == 200
    assert "You have 20 webhooks already: delete one first." in page.content.decode()
    api = client.post("/api/webhooks/", {"url": HOOK}, content_type="application/json")
    assert api.status_code == 409
    assert api.json()["error"]["message"] == "You have 20 webhooks already: delete one first."
    assert WebhookSubscription.objects.filter(owner=user).count() == 20
