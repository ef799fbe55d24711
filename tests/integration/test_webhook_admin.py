"""Webhooks in the admin: staff subscribe a URL to any user's conversation; the
outbox is read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat.models import Conversation, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(settings: Any) -> tuple[Any, Client]:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    admin = get_user_model().objects.create_superuser("boss", password="x-pass-123")
    client = Client()
    client.force_login(admin)
    return admin, client


def test_staff_subscribe_to_another_users_conversation(staff: tuple[Any, Client]) -> None:
    admin, client = staff
    alice = get_user_model().objects.create_user("alice", password="x-pass-123")
    conversation = Conversation.objects.create(owner=alice)
    form = {
        "owner": admin.pk,
        "conversation": conversation.pk,
        "url": "http://127.0.0.1:9/hook",
        "mode": "end",
        "format": "json",
        "active": "on",
    }
    response = client.post("/admin/chat/webhooksubscription/add/", form)
    assert response.status_code == 302, response.content[:2000]
    made = WebhookSubscription.objects.get()
    assert (made.owner, made.conversation) == (admin, conversation)
    assert made.secret.startswith("whsec_")


def test_the_admin_refuses_a_private_target_without_the_setting(
    staff: tuple[Any, Client], settings: Any
) -> None:
    admin, client = staff
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    form = {"owner": admin.pk, "url": "http://10.0.0.1/hook", "mode": "line", "format": "json"}
    response = client.post("/admin/chat/webhooksubscription/add/", form)
    assert response.status_code == 200 and b"private" in response.content
    assert not WebhookSubscription.objects.exists()


def test_deliveries_are_read_only(staff: tuple[Any, Client]) -> None:
    admin, client = staff
    subscription = WebhookSubscription.objects.create(
        owner=admin, url="http://127.0.0.1:9/hook", secret="whsec_x"
    )
    row = WebhookDelivery.objects.create(
        subscription=subscription,
        message_id="8d0c4a8e-0000-4000-8000-000000000001",
        seq=0,
        body={"text": "hi"},
    )
    assert client.get("/admin/chat/webhookdelivery/").status_code == 200
    assert client.get("/admin/chat/webhookdelivery/add/").status_code == 403
    page = client.get(f"/admin/chat/webhookdelivery/{row.pk}/change/")
    assert page.status_code == 200 and b"Save" not in page.content


def test_staff_see_why_a_webhook_was_paused(staff: tuple[Any, Client]) -> None:
    admin, client = staff
    WebhookSubscription.objects.create(
        owner=admin,
        url="http://127.0.0.1:9/hook",
        secret="whsec_x",
        active=False,
        paused_reason="Paused after 10 failed deliveries in a row; the last: HTTP 500",
    )
    page = client.get("/admin/chat/webhooksubscription/")
    assert b"Paused after 10 failed deliveries" in page.content
