"""Answers left `streaming` by a dead process end within a bounded time even when
nobody opens their conversation (the periodic sweep of every process, started by the
ASGI application whatever the process serves)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.utils import timezone

from chat.accounts import api_tokens as tokens
from chat.models import Message
from chatsite.asgi import application
from tests.support.waiting import wait_for

from .conftest import make_conversation, make_user, receive

pytestmark = [pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def orphan(conversation, age: timedelta) -> Message:
    message = Message.objects.create(
        conversation=conversation, role="assistant", status="streaming", content="Half an ans"
    )
    Message.objects.filter(pk=message.pk).update(updated=timezone.now() - age)
    return message


@database_sync_to_async
def status_of(message: Message) -> tuple[str, str, str]:
    saved = Message.objects.get(pk=message.pk)
    return saved.status, saved.error_code, saved.content


def sweepers() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "stale-sweeper"]


@pytest.fixture
async def sweeping(settings: Any) -> AsyncIterator[None]:
    """The sweep on (every 0.2 s; stale after 30 s); this loop's sweeper stopped after."""
    settings.CHAT_SWEEP_SECONDS = 0.2
    settings.CHAT_STALE_STREAM_SECONDS = 30
    yield
    for task in sweepers():
        task.cancel()


async def swept_only_the_dead(dead: Message, alive: Message) -> None:
    async def swept() -> bool:
        return (await status_of(dead))[0] == "error"

    await wait_for(swept, timeout=10, what="the periodic sweep")
    assert await status_of(dead) == ("error", "interrupted", "Half an ans")  # text kept
    assert (await status_of(alive))[0] == "streaming"  # saved recently: still alive


@pytest.mark.usefixtures("sweeping", "redis_layer")
async def test_a_dead_processes_answer_is_swept_with_nobody_looking() -> None:
    owner = await make_user()
    dead = await orphan(await make_conversation(owner), timedelta(minutes=5))
    alive = await orphan(await make_conversation(owner), timedelta(seconds=1))
    someone = await make_user()  # a socket through the application starts the sweeper
    _token, raw = await database_sync_to_async(tokens.token_create)(user=someone, name="s")
    ws = WebsocketCommunicator(
        application,
        f"/ws/chat/{(await make_conversation(someone)).pk}/",
        headers=[(b"host", b"localhost"), (b"authorization", f"Bearer {raw}".encode())],
    )
    connected, _ = await ws.connect(timeout=5)
    assert connected
    await receive(ws)
    try:
        await swept_only_the_dead(dead, alive)
    finally:
        await ws.disconnect()


@pytest.mark.usefixtures("sweeping")
async def test_a_process_that_only_serves_http_sweeps() -> None:
    """No socket ever opens (a process behind /api/ and /v1 only): its first request,
    here a probe, starts the sweep, and a dead process's answer is swept. However many
    requests come, the loop has one sweeper."""
    owner = await make_user()
    dead = await orphan(await make_conversation(owner), timedelta(minutes=5))
    alive = await orphan(await make_conversation(owner), timedelta(seconds=1))
    for _ in range(3):
        probe = HttpCommunicator(application, "GET", "/healthz", headers=[(b"host", b"localhost")])
        response = await probe.get_response()
        assert response["status"] == 200
    await swept_only_the_dead(dead, alive)
    assert len(sweepers()) == 1


@pytest.mark.usefixtures("sweeping")
async def test_a_lifespan_start_up_starts_the_sweep() -> None:
    """A server that sends lifespan events (not Daphne) has the sweep from start-up,
    before any request; start-up and shutdown are acknowledged."""
    server = ApplicationCommunicator(application, {"type": "lifespan"})
    await server.send_input({"type": "lifespan.startup"})
    assert await server.receive_output(timeout=5) == {"type": "lifespan.startup.complete"}
    assert len(sweepers()) == 1
    await server.send_input({"type": "lifespan.shutdown"})
    assert await server.receive_output(timeout=5) == {"type": "lifespan.shutdown.complete"}
    await server.wait(timeout=5)
