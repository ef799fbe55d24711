"""A conversation of 200 turns that still knows what was said at the start (issue #25,
"Done means"): over a real WebSocket, channel layer and database, with the real
ChatOpenAI client against the loopback model server. The history is 29 times the
budget; every request stays within it, and the fact of the first turn reaches the
200th answer only through summaries written in the background, each written from the
one before (the first turn itself is long out of the requests)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat.models import Message, Summary
from chat.provider.llm import SUMMARY_INTRO
from chat.streaming.answer import summarising
from tests.support.openai_stub import OpenAIStub, Reply

from .conftest import make_conversation, make_user, open_socket, receive

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]

BUDGET = 1_500
TURNS = 200
FACT = "my code word is PERSIMMON-42"
FIRST = f"Hello! Please remember this: {FACT}. Now let us talk about gardens."
LAST = "What was my code word?"
SUMMARY_ASKED = "Summarise the conversation"
REMEMBERED = re.compile(r"PERSIMMON-\d+")


def question(n: int) -> str:
    return f"Turn {n}: tell me one more thing about tomatoes, peppers and beans. " + "." * 40


def model(body: dict[str, Any]) -> Reply:
    """A stand-in model that uses what it is sent: a summary keeps the code word if its
    input (the previous summary and the turns) holds it; an answer to LAST names the
    code word only if the request holds it; other answers are about 110 characters."""
    sent = "\n".join(str(m["content"]) for m in body["messages"])
    asked = str(body["messages"][-1]["content"])
    found = REMEMBERED.search(sent)
    if asked.startswith(SUMMARY_ASKED):
        kept = f"The user's code word is {found.group()}. " if found else ""
        return Reply(deltas=[kept + "They talk about a vegetable garden."])
    if asked == LAST:
        return Reply(deltas=[f"Your code word is {found.group()}." if found else "I do not know."])
    return Reply(deltas=["Beans fix nitrogen,", " peppers like heat,", " and tomatoes" + " ~" * 30])


@pytest.mark.parametrize("redis_layer", ["pubsub"], indirect=True)
async def test_a_200_turn_conversation_remembers_its_first_turn(
    stub: OpenAIStub, settings: Any
) -> None:
    settings.CHAT_SUMMARIES = True
    settings.CHAT_HISTORY_CHAR_BUDGET = BUDGET
    # 200 questions within a minute or so, faster than a person types them.
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 10 * TURNS
    settings.CHAT_FRAMES_PER_SECOND = 1000.0
    stub.responder = model
    user = await make_user()
    conversation = await make_conversation(user)
    ws = await open_socket(user, conversation)
    assert (await receive(ws))["type"] == "history"

    for n in range(1, TURNS + 1):
        content = FIRST if n == 1 else LAST if n == TURNS else question(n)
        await ws.send_to(text_data=json.dumps({"type": "user_message", "content": content}))
        frame = await receive(ws)
        while frame["type"] not in ("end", "error"):
            frame = await receive(ws)
        assert frame["type"] == "end" and frame["status"] == "complete", (n, frame)
    await summarising.settle()
    await ws.disconnect()

    answers = [r for r in stub.requests if not _is_summary(r)]
    assert len(answers) == TURNS
    saved = await database_sync_to_async(
        lambda: list(Message.objects.filter(conversation=conversation).order_by("created", "pk"))
    )()
    assert len(saved) == 2 * TURNS
    assert saved[-1].content == "Your code word is PERSIMMON-42."  # it still knows

    last = answers[-1]["messages"]
    system = last[0]["content"]
    history = sum(len(m["content"]) for m in last[1:])
    assert SUMMARY_INTRO in system and "PERSIMMON-42" in system  # through the summary
    assert not any(FACT in str(m["content"]) for m in last[1:])  # the first turn is long gone
    assert last[-1] == {"role": "user", "content": LAST}
    assert history + len(system.split(SUMMARY_INTRO, 1)[1]) <= BUDGET
    # The whole history would be 29 times the budget; every request kept within it.
    total = sum(len(m.content) for m in saved)
    assert total > 28 * BUDGET
    for request in answers:
        turns = sum(len(m["content"]) for m in request["messages"][1:])
        assert turns <= BUDGET, turns

    summaries = await database_sync_to_async(
        lambda: list(Summary.objects.filter(conversation=conversation).order_by("created"))
    )()
    ready = [s for s in summaries if s.status == Summary.Status.READY]
    # Written again and again as the conversation grew, each from the one before.
    assert len(ready) >= 10, len(ready)
    assert all("PERSIMMON-42" in s.text for s in ready)
    summary_requests = [r for r in stub.requests if _is_summary(r)]
    assert sum("Summary of what came before" in _prompt(r) for r in summary_requests) >= 9


def _prompt(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


def _is_summary(body: dict[str, Any]) -> bool:
    return _prompt(body).startswith(SUMMARY_ASKED)
