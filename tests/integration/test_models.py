"""Several models: two OpenAI-compatible servers on loopback answering differently; the
conversation's model writes its next answer (and can change between messages), every
answer records its model, and the conversation's instructions and temperature reach it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation
from chat.provider.llm import system_prompt
from tests.support.openai_stub import OpenAIStub, Reply

from .conftest import open_chat, receive, receive_until, saved

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_layer")]


@pytest.fixture
def two_servers(settings: Any) -> Iterator[tuple[OpenAIStub, OpenAIStub]]:
    with OpenAIStub() as first, OpenAIStub() as second:
        settings.LLM_FACTORY = ""
        settings.LLM_MAX_RETRIES = 0
        settings.LLM_MODELS = json.dumps(
            [
                {"name": "alpha", "base_url": first.base_url, "api_key": "sk-a"},
                {"name": "beta", "id": "beta-local", "base_url": second.base_url},
            ]
        )
        yield first, second


@database_sync_to_async
def configure(conversation: Conversation, **fields: Any) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(**fields)


async def ask(ws: Any, content: str) -> list[dict[str, Any]]:
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": content}))
    assert (await receive(ws))["type"] == "message"
    return await receive_until(ws, "end")


async def test_the_conversations_model_answers_and_it_can_change_between_messages(
    two_servers, settings
) -> None:
    first, second = two_servers
    settings.LLM_SYSTEM_PROMPT = "Operator default."
    first.replies.append(Reply(deltas=["From", " alpha."]))
    second.replies.append(Reply(deltas=["From", " beta."]))
    _user, conversation, ws = await open_chat()
    # The default (the first configured) answers a new conversation.
    frames = await ask(ws, "Who are you?")
    start = next(f for f in frames if f["type"] == "start")
    answer = await saved(start["message_id"])
    assert (start["model"], answer.model_name, answer.content) == ("alpha", "alpha", "From alpha.")
    assert first.requests[-1]["model"] == "alpha" and first.auth[-1] == "Bearer sk-a"
    assert first.requests[-1]["messages"][0] == {"role": "system", "content": "Operator default."}
    # The user switches the conversation to the other model, with instructions.
    await configure(
        conversation, model="beta-local", instructions="Answer like a pirate.", temperature=0.3
    )
    frames = await ask(ws, "And now?")
    start = next(f for f in frames if f["type"] == "start")
    answer = await saved(start["message_id"])
    assert (start["model"], answer.model_name, answer.content) == (
        "beta-local",
        "beta-local",
        "From beta.",
    )
    request = second.requests[-1]
    assert request["model"] == "beta" and request["temperature"] == 0.3
    # The operator's prompt stays first; the conversation's instructions follow it.
    system = request["messages"][0]
    assert system == {"role": "system", "content": system_prompt("Answer like a pirate.")}
    assert system["content"].startswith("Operator default.\n\n")
    # The history it got is the conversation's, whichever model wrote it.
    assert [m["content"] for m in request["messages"][1:]] == [
        "Who are you?",
        "From alpha.",
        "And now?",
    ]
    assert len(first.requests) == 1 and len(second.requests) == 1
    await ws.disconnect()


async def test_a_model_no_longer_configured_falls_back_to_the_default(two_servers) -> None:
    first, _second = two_servers
    _user, conversation, ws = await open_chat()
    await configure(conversation, model="retired-model")
    frames = await ask(ws, "Hello?")
    assert frames[-1]["status"] == "complete"
    assert next(f for f in frames if f["type"] == "start")["model"] == "alpha"
    assert len(first.requests) == 1
    await ws.disconnect()


async def test_the_model_titles_a_conversation_after_its_first_answer(stub, settings) -> None:
    settings.CHAT_MODEL_TITLES = True
    stub.replies.append(Reply(deltas=["Kyoto in three days."]))
    stub.replies.append(Reply(deltas=['Title: "A Trip to Kyoto".']))
    _user, _conversation, ws = await open_chat()
    frames = await ask(ws, "plan a trip to kyoto for me please, three days")
    assert frames[-1]["status"] == "complete"
    renamed = await receive(ws)  # the tab hears of the new title
    assert renamed["type"] == "conversation"
    assert renamed["conversation"]["title"] == "A Trip to Kyoto"
    prompt = stub.requests[-1]["messages"][-1]["content"]
    assert "plan a trip to kyoto" in prompt and "Kyoto in three days." in prompt
    # Later answers keep the title: no more title requests.
    await ask(ws, "And food?")
    assert len(stub.requests) == 3
    await ws.disconnect()
