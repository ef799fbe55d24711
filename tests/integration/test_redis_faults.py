"""Faults in Redis itself: stalled (SIGSTOP) or killed and restarted around an answer.

A throwaway redis-server per test, on both channels_redis layers, with short timeouts
so a stall costs the test seconds, not the production defaults. Real parts only: the
real ChatOpenAI against the loopback stub, the real database, the consumer through
channels' WebsocketCommunicator.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.test import AsyncClient
from django.utils import timezone

from chat.models import Conversation, Message
from chat.provider.llm import close_chat_models
from chat.streaming.answer import exchanges
from chat.streaming.answer.registry import wait_for_answers
from chat.streaming.delivery.subscriber import WATCHDOG_SECONDS
from chat.streaming.stream.post import post
from chatsite.settings import redis_channel_layer
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.redis_server import RedisProcess, throwaway_redis_process
from tests.support.waiting import wait_for

from .conftest import chunk_text, make_conversation, make_user, open_chat, receive_until, saved

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CONNECT_TIMEOUT = 1.0
SOCKET_TIMEOUT = 6.0  # more than the core layer's 5 s blocking receive, as it must be


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    with throwaway_redis_process() as server:
        yield server


@pytest.fixture(params=["pubsub", "core"])
async def faulty_layer(
    request: Any, settings: Any, redis_server: RedisProcess
) -> AsyncIterator[Any]:
    """The channel layer on a Redis of this test's own, which it may stall or kill."""
    settings.CHANNEL_LAYERS = {
        "default": redis_channel_layer(
            redis_server.url,
            request.param,
            connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
        )
    }
    settings.CHAT_PROGRESS_SAVE_SECONDS = 0.2
    layer = get_channel_layer()
    yield layer
    redis_server.resume()  # whatever the test did, the answers can finish
    await wait_for_answers(timeout=60)
    await close_chat_models()
    await sync_to_async(connections.close_all)()
    await layer.flush()
    if hasattr(layer, "close_pools"):
        await layer.close_pools()


async def send(ws: Any, **frame: Any) -> None:
    await ws.send_to(text_data=json.dumps(frame))


async def streaming_count(conversation_id: Any) -> int:
    read = sync_to_async(
        lambda: Message.objects.filter(
            conversation_id=conversation_id, status=Message.Status.STREAMING
        ).count()
    )
    return await read()


async def answer_after(ws: Any, content: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Send a message and read the frames up to its answer's `end`."""
    await send(ws, type="user_message", content=content, client_id=uuid.uuid4().hex)
    return await receive_until(ws, "end", timeout=timeout)


async def test_a_stalled_redis_does_not_silence_the_tab_that_asked(
    faulty_layer: Any, redis_server: RedisProcess, stub: OpenAIStub
) -> None:
    """Redis stalls (SIGSTOP) before a message is sent. The tab that sent it is in the
    process that runs its answer, so it gets the message, the whole answer and its
    `end` from this process (delivery/local.py), without waiting on Redis; the answer
    is saved `complete`. Another process's subscriber of the conversation (a channel of
    its own in the group) gets the answer's `end` once Redis answers again. Then the
    next message gets a `complete` answer as usual."""
    _user, conversation, ws = await open_chat()
    elsewhere = await faulty_layer.new_channel()
    await faulty_layer.group_add(f"conv.{conversation.pk}", elsewhere)
    redis_server.pause()
    stub.replies.append(Reply(deltas=["While", " Redis", " sleeps."]))
    frames = await answer_after(ws, "Anyone there?", timeout=SOCKET_TIMEOUT)
    assert frames[0]["type"] == "message" and frames[0]["content"] == "Anyone there?"
    end = frames[-1]
    assert end["status"] == "complete" and not [f for f in frames if f["type"] == "error"]
    assert chunk_text(frames, end["message_id"]) == "While Redis sleeps."
    answer = await saved(end["message_id"])
    assert (answer.status, answer.content) == ("complete", "While Redis sleeps.")
    assert await streaming_count(conversation.pk) == 0
    redis_server.resume()
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] != "chat.end":
        seen.append(await asyncio.wait_for(faulty_layer.receive(elsewhere), 3 * SOCKET_TIMEOUT))
    assert seen[-1]["message_id"] == end["message_id"] and seen[-1]["status"] == "complete"
    stub.replies.append(Reply(deltas=["Back", " again."]))
    frames = await answer_after(ws, "And now?")
    assert frames[-1]["status"] == "complete"
    answer = await saved(frames[-1]["message_id"])
    assert answer.content == "Back again." and answer.status == "complete"
    await ws.disconnect()


async def test_redis_killed_mid_answer_and_restarted_leaves_a_definite_state(
    faulty_layer: Any, redis_server: RedisProcess, stub: OpenAIStub
) -> None:
    """Redis dies (SIGKILL) while an answer streams and comes back empty on the same
    port: the answer still ends saved, `complete` or `error`, never `streaming`; a
    message sent after the restart gets a `complete` answer on the same socket."""
    stub.replies.append(Reply(deltas=[f"w{i} " for i in range(60)], delay=0.05))
    _user, conversation, ws = await open_chat()
    await send(ws, type="user_message", content="Long one", client_id=uuid.uuid4().hex)
    frames = await receive_until(ws, "chunk")
    message_id = frames[-1]["message_id"]
    redis_server.kill()
    redis_server.start()
    await wait_for_answers(timeout=3 * SOCKET_TIMEOUT + 10)
    answer = await saved(message_id)
    assert answer.status in ("complete", "error"), answer.status
    assert await streaming_count(conversation.pk) == 0
    # The tab hears of the end (from the bus, or its watchdog from the saved row).
    frames += await receive_until(ws, "end", timeout=SOCKET_TIMEOUT + 2 * WATCHDOG_SECONDS)
    assert frames[-1]["message_id"] == message_id
    assert frames[-1]["status"] == answer.status
    stub.replies.append(Reply(deltas=["Still", " here."]))
    frames = await answer_after(ws, "Still there?")
    assert frames[-1]["status"] == "complete"
    assert (await saved(frames[-1]["message_id"])).content == "Still here."
    await ws.disconnect()


@pytest.mark.usefixtures("redis_layer")
async def test_the_tabs_end_comes_from_the_bus_not_its_watchdog(stub: OpenAIStub) -> None:
    """An answer stops listening to its control group as it ends. On the core layer
    that listener shared the process's one blocking read of Redis, and cancelling it
    lost an event it had just popped for another channel: the tab's `chat.end`, which
    the tab then learnt from its watchdog, seconds late. Each `end` here comes sooner."""
    _user, _conversation, ws = await open_chat()
    for turn in range(3):
        stub.replies.append(Reply(deltas=[f"Answer {turn}", "."]))
        started = time.monotonic()
        frames = await answer_after(ws, f"Question {turn}")
        assert frames[-1]["status"] == "complete"
        assert time.monotonic() - started < WATCHDOG_SECONDS
    await ws.disconnect()


# --- Deleting a conversation while Redis is down --------------------------------------


async def logged_in(user: Any) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def test_a_conversation_with_nothing_running_is_deleted_while_redis_is_down(
    faulty_layer: Any, redis_server: RedisProcess
) -> None:
    """Redis is stopped and no answer runs in the conversation (one is complete, one
    was left `streaming` by a dead process): DELETE needs no channel layer, 204, and
    the conversation is gone. It used to send a stop through Redis first, and fail."""
    user = await make_user()
    conversation = await make_conversation(user)
    await Message.objects.acreate(
        conversation=conversation, role="assistant", status="complete", content="Done."
    )
    dead = await Message.objects.acreate(
        conversation=conversation, role="assistant", status="streaming", content="Half"
    )
    await Message.objects.filter(pk=dead.pk).aupdate(updated=timezone.now() - timedelta(hours=1))
    client = await logged_in(user)
    redis_server.kill()
    try:
        response = await client.delete(f"/api/conversations/{conversation.pk}/")
        assert response.status_code == 204
        assert not await Conversation.objects.filter(pk=conversation.pk).aexists()
        assert not await Message.objects.filter(conversation_id=conversation.pk).aexists()
    finally:
        redis_server.start()  # the fixture flushes the layer afterwards


async def test_deleting_while_an_answer_runs_elsewhere_and_redis_is_down_deletes_nothing(
    faulty_layer: Any, redis_server: RedisProcess
) -> None:
    """An answer streams in another process (saved a moment ago, not running here) and
    Redis is stopped: it cannot be told to stop, so the DELETE is refused, 503 JSON
    `unavailable` with Retry-After, and nothing is deleted. Once that answer has ended
    (saved), the same DELETE succeeds with Redis still down."""
    user = await make_user()
    conversation = await make_conversation(user)
    answer = await Message.objects.acreate(
        conversation=conversation, role="assistant", status="streaming", content="Still wri"
    )
    client = await logged_in(user)
    redis_server.kill()
    try:
        response = await client.delete(f"/api/conversations/{conversation.pk}/")
        assert response.status_code == 503 and response["Retry-After"] == "5"
        error = response.json()["error"]
        assert error["code"] == "unavailable" and "nothing was deleted" in error["message"]
        assert await Conversation.objects.filter(pk=conversation.pk).aexists()
        assert (await saved(answer.pk)).status == "streaming"  # left to its process
        await Message.objects.filter(pk=answer.pk).aupdate(status="complete")
        response = await client.delete(f"/api/conversations/{conversation.pk}/")
        assert response.status_code == 204
        assert not await Conversation.objects.filter(pk=conversation.pk).aexists()
    finally:
        redis_server.start()


async def test_deleting_while_an_answer_runs_here_and_redis_is_down_stops_it(
    faulty_layer: Any, redis_server: RedisProcess, stub: OpenAIStub
) -> None:
    """The answer streams in the process that serves the DELETE, and Redis is stopped:
    the stop reaches it directly, the conversation is deleted (204) and the model's
    stream is closed."""
    stub.replies.append(Reply(deltas=[f"w{i} " for i in range(200)], delay=0.05))
    user = await make_user()
    conversation = await make_conversation(user)
    request = exchanges.ExchangeRequest(
        user=user, conversation_id=conversation.pk, content="Long one", client_id=None
    )
    await post(request)
    await wait_for(lambda: stub.requests, timeout=5, what="the model request")
    client = await logged_in(user)
    redis_server.kill()
    try:
        response = await client.delete(f"/api/conversations/{conversation.pk}/")
        assert response.status_code == 204
        assert not await Conversation.objects.filter(pk=conversation.pk).aexists()
        await wait_for_answers(timeout=3 * SOCKET_TIMEOUT + 10)
        await wait_for(lambda: stub.disconnects == 1, timeout=5, what="the model stream closed")
    finally:
        redis_server.start()
