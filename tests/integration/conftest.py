"""Integration fixtures: the real Redis channel layer, users, conversations, sockets."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.contrib.auth import get_user_model
from django.db import connections

from chat.models import Conversation, Message
from chat.provider.llm import close_chat_models
from chat.routing import websocket_urlpatterns
from chat.streaming.answer.registry import wait_for_answers
from chatsite.settings import redis_channel_layer
from tests.support.openai_stub import OpenAIStub

APP = URLRouter(websocket_urlpatterns)


@pytest.fixture
def stub(settings: Any) -> Iterator[OpenAIStub]:
    """The loopback OpenAI-compatible server, with the settings pointing the real
    ChatOpenAI client at it (no retries: a failure shows at once)."""
    with OpenAIStub() as server:
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = "sk-test-not-real"
        settings.LLM_MODEL = "stub-model"
        settings.LLM_MAX_RETRIES = 0
        yield server


@pytest.fixture(params=["pubsub", "core"])
async def redis_layer(request: Any, settings: Any, redis_url: str) -> AsyncIterator[Any]:
    """Tests that stream run on both channels_redis layers against a real server."""
    layer_config = redis_channel_layer(redis_url, request.param)
    layer_config["CONFIG"]["prefix"] = f"test-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {"default": layer_config}
    settings.DEMO_TOKEN_DELAY_MS = 2
    settings.CHAT_PROGRESS_SAVE_SECONDS = 0.2
    layer = get_channel_layer()
    assert isinstance(layer, (RedisPubSubChannelLayer, RedisChannelLayer))  # real Redis
    yield layer
    await wait_for_answers(timeout=30)
    await close_chat_models()
    # database_sync_to_async copies the connection it opened back into the test's
    # context; close it there, or PostgreSQL cannot drop the test database at the end.
    await sync_to_async(connections.close_all)()
    await layer.flush()
    if hasattr(layer, "close_pools"):
        await layer.close_pools()


@pytest.fixture
def alice() -> Any:
    """A user with conversations to show (names are unique per test database)."""
    return get_user_model().objects.create_user("alice", password="secret-pass-123")


@pytest.fixture
def bob() -> Any:
    """Another user: what is alice's must never reach him."""
    return get_user_model().objects.create_user("bob", password="secret-pass-123")


@pytest.fixture
def staff(client: Any) -> Any:
    """A test client logged in as a superuser ("root")."""
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-root-1"))
    return client


@database_sync_to_async
def make_user(name: str | None = None) -> Any:
    return get_user_model().objects.create_user(
        username=name or f"user-{uuid.uuid4().hex[:8]}", password="secret-pass-123"
    )


@database_sync_to_async
def saved(message_id: str) -> Message:
    """The message as the database has it now."""
    return Message.objects.get(pk=message_id)


@database_sync_to_async
def make_conversation(user: Any) -> Conversation:
    return Conversation.objects.create(owner=user)


async def open_socket(
    user: Any, conversation: Conversation | str, mode: str | None = None, timeout: float = 5
) -> WebsocketCommunicator:
    """Connect as `user` (within `timeout` seconds); returns the communicator with the
    first frame still unread."""
    conversation_id = getattr(conversation, "pk", conversation)
    path = f"/ws/chat/{conversation_id}/" + (f"?chunk={mode}" if mode else "")
    communicator = WebsocketCommunicator(APP, path)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect(timeout=timeout)
    assert connected
    return communicator


async def open_chat(mode: str | None = None) -> tuple[Any, Conversation, WebsocketCommunicator]:
    """A new user with a new conversation, connected, its `history` frame already read."""
    user = await make_user()
    conversation = await make_conversation(user)
    communicator = await open_socket(user, conversation, mode)
    history = await receive(communicator)
    assert history["type"] == "history"
    return user, conversation, communicator


async def receive(communicator: WebsocketCommunicator, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def receive_until(
    communicator: WebsocketCommunicator, kind: str, timeout: float = 20
) -> list[dict[str, Any]]:
    """All frames up to and including the first of type `kind`."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await receive(communicator, timeout=timeout)
            frames.append(frame)
            if frame["type"] == kind:
                return frames


def chunk_text(frames: list[dict[str, Any]], message_id: str) -> str:
    """The invariant's left side: chunk texts of one message, joined in seq order."""
    chunks = [f for f in frames if f["type"] == "chunk" and f["message_id"] == message_id]
    assert [c["seq"] for c in chunks] == list(range(len(chunks))), "seq must be 0,1,2,…"
    return "".join(c["text"] for c in chunks)
