"""LLM_FACTORY: a project's own LangChain chat model answers over the real WebSocket,
channel layer and database, named by its model name or by the factory's path."""

from __future__ import annotations

import json

import pytest

from tests.support import custom_model

from .conftest import chunk_text, open_chat, receive_until, saved

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),  # it also closes each test's models
]

CANNED = "tests.support.custom_model.make_canned_model"
FAKE = "tests.support.custom_model.make_fake_model"


async def exchange(ws, content: str) -> list[dict]:
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": content}))
    return await receive_until(ws, "end")


async def test_a_generate_only_model_answers_with_its_name_and_usage(settings) -> None:
    """A model that cannot stream answers in one delta; its model_name names it on the
    wire and in the database, and its usage is saved."""
    settings.LLM_FACTORY = CANNED
    _user, _conversation, ws = await open_chat("sentence")
    frames = await exchange(ws, "What is a factory?")
    start = frames[1]
    assert start == {
        "type": "start",
        "message_id": start["message_id"],
        "model": "canned-model",
        "parent_id": start["parent_id"],
        "siblings": [start["message_id"]],
    }
    answer = await saved(start["message_id"])
    expected = custom_model.canned_answer("What is a factory?")
    assert chunk_text(frames, str(answer.pk)) == answer.content == expected
    assert answer.status == "complete" and answer.model_name == "canned-model"
    assert frames[-1]["usage"] == custom_model.CANNED_USAGE == answer.usage
    await ws.disconnect()


async def test_a_sync_streaming_model_streams_and_is_named_by_the_factory_path(settings) -> None:
    """langchain_core's fake model streams from `_stream` in deltas; it has no model
    name, so the factory's path is its name; it reports no usage, none is saved."""
    settings.LLM_FACTORY = FAKE
    _user, _conversation, ws = await open_chat("token")
    for prompt in ("First", "Second"):  # the same model answers again
        frames = await exchange(ws, prompt)
        start = frames[1]
        assert start["model"] == FAKE
        answer = await saved(start["message_id"])
        assert chunk_text(frames, str(answer.pk)) == answer.content == custom_model.FAKE_ANSWER
        assert len([f for f in frames if f["type"] == "chunk"]) > 1
        assert answer.status == "complete" and answer.model_name == FAKE
        assert frames[-1]["usage"] is None and answer.usage is None
    await ws.disconnect()
