"""A socket's history comes in pages: the newest at connect, older ones on request."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chat.models import Message

from .conftest import make_conversation, make_user, open_socket, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_layer")]


@database_sync_to_async
def fill(conversation, count: int) -> list[str]:
    start = timezone.now() - timedelta(hours=1)
    messages: list[Message] = []
    for i in range(count):  # a path: each follows the one before
        messages.append(
            Message(
                conversation=conversation,
                parent=messages[-1] if messages else None,
                role="user" if i % 2 == 0 else "assistant",
                content=f"message {i}",
                status="complete",
            )
        )
    Message.objects.bulk_create(messages)
    for i, message in enumerate(messages):  # one second apart, in order
        Message.objects.filter(pk=message.pk).update(created=start + timedelta(seconds=i))
    return [str(m.pk) for m in messages]


async def test_history_pages_cover_the_conversation_once_in_order(settings) -> None:
    settings.CHAT_HISTORY_PAGE = 50
    user = await make_user()
    conversation = await make_conversation(user)
    ids = await fill(conversation, 120)
    ws = await open_socket(user, conversation)
    history = await receive(ws)
    assert history["has_more"] is True
    pages = [history["messages"]]
    while True:
        await ws.send_to(text_data=json.dumps({"type": "load_older", "before": pages[0][0]["id"]}))
        older = await receive(ws)
        assert older["type"] == "older"
        pages.insert(0, older["messages"])
        if not older["has_more"]:
            break
    assert [len(p) for p in pages] == [20, 50, 50]
    assert [m["id"] for page in pages for m in page] == ids
    assert pages[0][0]["content"] == "message 0"
    await ws.disconnect()


async def test_a_short_conversation_has_no_more(settings) -> None:
    settings.CHAT_HISTORY_PAGE = 50
    user = await make_user()
    conversation = await make_conversation(user)
    await fill(conversation, 3)
    ws = await open_socket(user, conversation)
    history = await receive(ws)
    assert history["has_more"] is False and len(history["messages"]) == 3
    await ws.disconnect()


@pytest.mark.parametrize(
    ("before", "code"),
    [
        ("not-a-uuid", "not_found"),
        ("3f2b1c4e-0000-4000-8000-000000000000", "not_found"),
        (7, "bad_frame"),
    ],
)
async def test_load_older_refuses_what_is_not_a_message_of_this_conversation(before, code) -> None:
    user = await make_user()
    mine = await make_conversation(user)
    stranger = await make_user()
    theirs = await make_conversation(stranger)
    (foreign,) = await fill(theirs, 1)
    ws = await open_socket(user, mine)
    await receive(ws)
    for value in (before, foreign):
        await ws.send_to(text_data=json.dumps({"type": "load_older", "before": value}))
        error = await receive(ws)
        assert error["type"] == "error"
        assert error["code"] == (code if value is before else "not_found")
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    assert await receive(ws) == {"type": "pong"}
    await ws.disconnect()
