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
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections

from chat.models import Message
from chat.provider.llm import close_chat_models
from chat.streaming.answer.registry import wait_for_answers
from chat.streaming.delivery.subscriber import WATCHDOG_SECONDS
from chatsite.settings import redis_channel_layer
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.redis_server import RedisProcess, throwaway_redis_process

from .conftest import chunk_text, open_chat, receive_until, saved

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
