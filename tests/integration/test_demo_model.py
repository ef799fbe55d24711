"""The offline demo model shows the product's features over the real chat socket, the
channel layer and the database (issue #22, item 1): a regenerate gives another
answer, a stopped answer continues where it stopped, and the conversation's model,
instructions and temperature reach the model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation
from chat.provider.demo import demo_reply
from chat.provider.llm import to_langchain
from chat.provider.prompts import CONTINUE_PROMPT

from .conftest import chunk_text, open_chat, open_socket, receive, receive_until, saved

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]


async def send(ws: Any, **frame: Any) -> None:
    await ws.send_to(text_data=json.dumps(frame))


def started(frames: list[dict[str, Any]]) -> str:
    return str(next(f for f in frames if f["type"] == "start")["message_id"])


async def test_a_regenerated_demo_answer_differs_from_the_first(settings) -> None:
    """Regenerate used to give the same words: it looked as if nothing happened."""
    settings.DEMO_TOKEN_DELAY_MS = 1
    _user, _conversation, ws = await open_chat()
    await send(ws, type="user_message", content="What can you do?")
    first = started(await receive_until(ws, "end"))
    await send(ws, type="regenerate", message_id=first)
    frames = await receive_until(ws, "end")
    second = started(frames)
    context = to_langchain([("user", "What can you do?")])
    assert (await saved(first)).content == demo_reply(context)
    assert chunk_text(frames, second) == (await saved(second)).content
    assert (await saved(second)).content == demo_reply(context, attempt=1)
    assert (await saved(second)).content != (await saved(first)).content
    await ws.disconnect()


async def test_a_stopped_demo_answer_continues_where_it_stopped(settings) -> None:
    """Continue used to answer the hidden continue prompt, glued on without a space."""
    settings.DEMO_TOKEN_DELAY_MS = 25
    _user, _conversation, ws = await open_chat("sentence")
    await send(ws, type="user_message", content="Please stop me")
    frames = await receive_until(ws, "chunk")  # its first sentence is out, the rest is not
    await send(ws, type="stop")
    frames += await receive_until(ws, "end")
    cut = await saved(started(frames))
    whole = demo_reply(to_langchain([("user", "Please stop me")]))
    assert cut.status == "stopped" and 0 < len(cut.content) < len(whole)
    settings.DEMO_TOKEN_DELAY_MS = 1
    await send(ws, type="continue", message_id=str(cut.pk))
    frames = await receive_until(ws, "end")
    continued = started(frames)
    assert chunk_text(frames, continued) == (await saved(continued)).content == whole
    assert CONTINUE_PROMPT not in whole
    await ws.disconnect()


@database_sync_to_async
def configure(conversation: Conversation, **fields: Any) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(**fields)


async def test_the_conversations_model_instructions_and_temperature_reach_the_demo(
    settings,
) -> None:
    settings.DEMO_TOKEN_DELAY_MS = 1
    user, conversation, ws = await open_chat()
    await ws.disconnect()
    await configure(conversation, model="demo-ja", instructions="Be brief.", temperature=1.2)
    ws = await open_socket(user, conversation)
    await receive(ws)  # its history
    await send(ws, type="user_message", content="Hello")
    answer = await saved(started(await receive_until(ws, "end")))
    context = to_langchain([("user", "Hello")], "Be brief.")
    assert answer.model_name == "demo-ja"
    assert answer.content == demo_reply(context, temperature=1.2, language="ja")
    assert answer.content.startswith("「Hello」") and len(answer.content.splitlines()) == 2
    await ws.disconnect()
