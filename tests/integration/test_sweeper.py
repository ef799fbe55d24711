"""Answers left `streaming` by a dead process end within a bounded time even when
nobody opens their conversation (the periodic sweep of every process)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chat.models import Message
from tests.support.waiting import wait_for

from .conftest import make_conversation, make_user, open_socket, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_layer")]


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


async def test_a_dead_processes_answer_is_swept_with_nobody_looking(settings) -> None:
    settings.CHAT_SWEEP_SECONDS = 0.2
    settings.CHAT_STALE_STREAM_SECONDS = 30
    owner = await make_user()
    dead = await orphan(await make_conversation(owner), timedelta(minutes=5))
    alive = await orphan(await make_conversation(owner), timedelta(seconds=1))
    someone = await make_user()  # any socket starts its process's sweeper
    ws = await open_socket(someone, await make_conversation(someone))
    await receive(ws)
    try:

        async def swept() -> bool:
            return (await status_of(dead))[0] == "error"

        await wait_for(swept, timeout=10, what="the periodic sweep")
        assert await status_of(dead) == ("error", "interrupted", "Half an ans")  # text kept
        assert (await status_of(alive))[0] == "streaming"  # saved recently: still alive
    finally:
        await ws.disconnect()
        for task in [t for t in asyncio.all_tasks() if t.get_name() == "stale-sweeper"]:
            task.cancel()
