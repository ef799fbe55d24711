"""What one user may keep and how often they may create, over the real database (and,
for the socket and /v1, the real channel layer and loopback model server): caps on
conversations and stored text with a clear `storage_full`, rate limits on creating
conversations, saving presets and searching (429 with retry_after), and the
operator's retention (the management command and the periodic sweep)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from chat.models import Conversation, Message, Preset
from chatsite.asgi import application
from tests.support.openai_stub import OpenAIStub
from tests.support.waiting import wait_for

from .conftest import make_conversation, make_user, open_socket, receive
from .sse import bearer_client, make_token, openai_error_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_user("alice", password="x-pass-123"))
    return client


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, body, content_type="application/json")


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and "Traceback" not in error["message"]
    return error


def test_conversations_per_user_are_capped(alice: Client, settings: Any) -> None:
    settings.CHAT_MAX_CONVERSATIONS_PER_USER = 3
    for _ in range(3):
        assert post(alice, "/api/conversations/", {}).status_code == 201
    error = refused(post(alice, "/api/conversations/", {}), 403, "storage_full")
    assert "3 conversations" in error["message"]
    assert Conversation.objects.count() == 3
    Conversation.objects.first().delete()  # room again
    assert post(alice, "/api/conversations/", {}).status_code == 201


@pytest.mark.usefixtures("redis_layer")
async def test_stored_text_per_user_is_capped_on_every_door(
    stub: OpenAIStub, settings: Any
) -> None:
    """Over its cap a user's next message is refused on the socket (nothing saved),
    and /v1 answers OpenAI's insufficient_quota; below it both go on."""
    settings.CHAT_MAX_STORED_BYTES_PER_USER = 1000
    user = await make_user()
    conversation = await make_conversation(user)
    await database_sync_to_async(Message.objects.create)(
        conversation=conversation,
        role=Message.Role.USER,
        content="é" * 500,  # 1000 bytes
    )
    ws = await open_socket(user, conversation)
    assert (await receive(ws))["type"] == "history"
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": "one more"}))
    error = await receive(ws)
    assert error["type"] == "error" and error["code"] == "storage_full"
    assert "Delete some" in error["message"]
    await ws.disconnect()
    count = database_sync_to_async(Message.objects.filter(conversation__owner=user).count)
    assert await count() == 1
    _token, raw = await make_token(user)
    response = await bearer_client(raw).post(
        "/v1/chat/completions",
        data=json.dumps({"model": "stub-model", "messages": [{"role": "user", "content": "hi"}]}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert openai_error_of(response)["type"] == "insufficient_quota"


@pytest.mark.parametrize(
    ("path", "body", "method"),
    [
        ("/api/conversations/", {}, "post"),
        ("/api/presets/", None, "post"),  # a new preset each time (a name of its own)
        ("/api/search/?q=kyoto", None, "get"),
    ],
    ids=["conversations", "presets", "search"],
)
def test_creating_saving_presets_and_searching_are_rate_limited(
    alice: Client, settings: Any, path: str, body: Any, method: str
) -> None:
    settings.CHAT_ACTIONS_PER_MINUTE = 3
    before = (Conversation.objects.count(), Preset.objects.count())

    def once(index: int) -> Any:
        if method == "get":
            return alice.get(path)
        payload = body if body is not None else {"name": f"preset {index}"}
        return post(alice, path, payload)

    for index in range(3):
        assert once(index).status_code in (200, 201)
    response = once(3)
    error = refused(response, 429, "rate_limited")
    assert 1 <= error["retry_after"] <= 60 and int(response["Retry-After"]) >= 1
    after = (Conversation.objects.count(), Preset.objects.count())
    assert sum(after) - sum(before) == (0 if method == "get" else 3)  # the 4th saved nothing


def make_old(days: int, *, streaming: bool = False) -> Conversation:
    user = get_user_model().objects.create_user(f"old-{days}-{streaming}")
    conversation = Conversation.objects.create(owner=user)
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content="old words",
        status=Message.Status.STREAMING if streaming else Message.Status.COMPLETE,
    )
    then = timezone.now() - timedelta(days=days)
    Conversation.objects.filter(pk=conversation.pk).update(updated=then)
    return conversation


def test_the_retention_command_deletes_conversations_older_than_n_days(settings: Any) -> None:
    settings.CHAT_RETENTION_DAYS = 0
    old, recent = make_old(40), make_old(5)
    busy = make_old(40, streaming=True)  # an answer still streaming: left for later
    with pytest.raises(CommandError, match="retention is off"):
        call_command("delete_old_conversations")
    out = StringIO()
    call_command("delete_old_conversations", "--days", "30", "--dry-run", stdout=out)
    assert "1 conversations older than 30 days would be deleted" in out.getvalue()
    assert Conversation.objects.filter(pk=old.pk).exists()
    settings.CHAT_RETENTION_DAYS = 30
    call_command("delete_old_conversations", stdout=out)
    assert set(Conversation.objects.values_list("pk", flat=True)) == {recent.pk, busy.pk}
    assert not Message.objects.filter(conversation_id=old.pk).exists()


@pytest.fixture
async def sweeping(settings: Any) -> AsyncIterator[None]:
    settings.CHAT_SWEEP_SECONDS = 0.2
    yield
    for task in asyncio.all_tasks():
        if task.get_name() == "stale-sweeper":
            task.cancel()


@pytest.mark.usefixtures("sweeping")
async def test_the_periodic_sweep_applies_the_retention_setting(settings: Any) -> None:
    settings.CHAT_RETENTION_DAYS = 30
    old = await database_sync_to_async(make_old)(31)
    recent = await database_sync_to_async(make_old)(1)
    response = await HttpCommunicator(
        application, "GET", "/healthz", headers=[(b"host", b"localhost")]
    ).get_response()
    assert response["status"] == 200  # the process's first request starts its sweep
    exists = database_sync_to_async(lambda pk: Conversation.objects.filter(pk=pk).exists())

    async def deleted() -> bool:
        return not await exists(old.pk)

    await wait_for(deleted, timeout=10, what="the retention sweep")
    assert await exists(recent.pk)
