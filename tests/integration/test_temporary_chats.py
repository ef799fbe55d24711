"""Temporary chats (issue #24): never listed nor searched, gone at their time (at once
for their owner, deleted by the sweep), under the same limits and staff review."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from chat.conversations import services
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> Any:
    return get_user_model().objects.create_user("alice", password="x-pass-123")


@pytest.fixture
def alice(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def create(client: Client, body: dict[str, Any]) -> Any:
    return client.post("/api/conversations/", body, content_type="application/json")


def with_message(conversation_id: str, text: str, status: str = "complete") -> Conversation:
    conversation = Conversation.objects.get(pk=conversation_id)
    Message.objects.create(conversation=conversation, role="user", content=text, status=status)
    return conversation


def expire(conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(
        expires=timezone.now() - timedelta(seconds=1)
    )


def titles(client: Client, query: str = "") -> list[str]:
    response = client.get(f"/api/conversations/{query}")
    assert response.status_code == 200
    return [c["title"] for c in response.json()["conversations"]]


def test_a_temporary_chat_is_never_listed_nor_searched(alice: Client, settings: Any) -> None:
    settings.CHAT_TEMPORARY_HOURS = 6
    made = create(alice, {"title": "secret zebra", "temporary": True})
    assert made.status_code == 201
    body = made.json()
    assert body["temporary"] is True
    expires = timezone.datetime.fromisoformat(body["expires"])
    assert abs(expires - (timezone.now() + timedelta(hours=6))) < timedelta(minutes=1)
    kept = create(alice, {"title": "kept zebra"}).json()
    assert kept["temporary"] is False and kept["expires"] is None
    for conversation in (body, kept):
        with_message(conversation["id"], "a zebra crossed")
    for query in ("", "?started=1", "?source=all", "?archived=1"):
        assert "secret zebra" not in titles(alice, query)
    assert "kept zebra" in titles(alice)
    hits = alice.get("/api/search/?q=zebra").json()["results"]
    assert {hit["conversation_id"] for hit in hits} == {kept["id"]}
    # While it lasts, its owner opens it by its address.
    assert alice.get(f"/api/conversations/{body['id']}/").status_code == 200


def test_past_its_time_it_is_gone_at_once_and_the_sweep_deletes_it(alice: Client) -> None:
    temporary = with_message(create(alice, {"temporary": True}).json()["id"], "hello")
    streaming = with_message(create(alice, {"temporary": True}).json()["id"], "hi", "streaming")
    live = with_message(create(alice, {"temporary": True}).json()["id"], "still here")
    kept = with_message(create(alice, {}).json()["id"], "kept")
    expire(temporary)
    expire(streaming)
    assert alice.get(f"/api/conversations/{temporary.pk}/").status_code == 404
    assert alice.get(f"/c/{temporary.pk}/").status_code == 404
    assert services.conversations_delete_expired() == 1
    assert not Conversation.objects.filter(pk=temporary.pk).exists()
    assert not Message.objects.filter(conversation_id=temporary.pk).exists()
    # One with an answer streaming waits for a later pass; the others stay.
    assert set(Conversation.objects.values_list("pk", flat=True)) == {
        streaming.pk,
        live.pk,
        kept.pk,
    }


def test_temporary_must_be_a_boolean(alice: Client) -> None:
    response = create(alice, {"temporary": "yes"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "temporary" in response.json()["error"]["fields"]
    assert not Conversation.objects.exists()


def test_a_temporary_chat_counts_against_the_limits(alice: Client, settings: Any) -> None:
    settings.CHAT_MAX_CONVERSATIONS_PER_USER = 1
    assert create(alice, {"temporary": True}).status_code == 201
    refused = create(alice, {"temporary": True})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "storage_full"


def test_staff_review_a_temporary_chat_like_any_other(alice: Client, user: Any) -> None:
    made = create(alice, {"title": "temporary but reviewed", "temporary": True}).json()
    staff = get_user_model().objects.create_superuser("root", password="x-pass-123")
    reviewer = Client()
    reviewer.force_login(staff)
    page = reviewer.get("/admin/chat/conversation/")
    assert page.status_code == 200
    assert "temporary but reviewed" in page.content.decode()
    detail = reviewer.get(f"/admin/chat/conversation/{made['id']}/change/")
    assert detail.status_code == 200
