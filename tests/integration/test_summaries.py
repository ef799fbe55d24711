"""Long conversations summarised, not silently cut (issue #25), against the loopback
model server with the real ChatOpenAI client, a real channel layer and database: the
exact request bodies the model gets with a summary, after an edit that leaves it
behind, and when the summary call fails; the summary call's usage and charge."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chat.models import Conversation, Message, Summary, UserQuota
from chat.provider.llm import SUMMARY_INTRO
from chat.streaming.answer import summarising
from tests.support.openai_stub import OpenAIStub, Reply, last_question
from tests.support.waiting import wait_for

from .conftest import make_conversation, make_user, open_socket, receive, receive_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]

BUDGET = 400  # characters; a tenth is kept for the next question when judging the next
SYSTEM = "Be brief."
SUMMARY_TEXT = "The user asked Q1 and Q2 about gardens; the assistant answered both."
ASKED = "Summarise the conversation"  # the summary request's prompt starts so


def text(tag: str, length: int) -> str:
    """`tag` padded to `length` characters."""
    return (tag + " " + "x" * length)[:length]


Q1, A1, Q2, A2 = (text(tag, 100) for tag in ("Q1", "A1", "Q2", "A2"))
Q3, A3, Q4, A4 = (text(tag, 50) for tag in ("Q3", "A3", "Q4", "A4"))


@pytest.fixture
def summaries_on(settings: Any) -> Any:
    settings.CHAT_SUMMARIES = True
    settings.CHAT_HISTORY_CHAR_BUDGET = BUDGET
    settings.LLM_SYSTEM_PROMPT = SYSTEM
    return settings


@database_sync_to_async
def seed(conversation: Conversation, *contents: str) -> list[Message]:
    """Finished turns (user first, alternating) on one path; the leaf is the last."""
    parent = None
    made = []
    for index, content in enumerate(contents):
        role = Message.Role.USER if index % 2 == 0 else Message.Role.ASSISTANT
        parent = Message.objects.create(
            conversation=conversation, parent=parent, role=role, content=content
        )
        made.append(parent)
    Conversation.objects.filter(pk=conversation.pk).update(leaf=parent)
    return made


async def chat(*contents: str) -> tuple[Any, Conversation, list[Message], Any]:
    user = await make_user()
    conversation = await make_conversation(user)
    turns = await seed(conversation, *contents)
    ws = await open_socket(user, conversation)
    assert (await receive(ws))["type"] == "history"
    return user, conversation, turns, ws


async def send(ws: Any, **frame: Any) -> list[dict[str, Any]]:
    await ws.send_to(text_data=json.dumps(frame))
    frames = await receive_until(ws, "end")
    assert frames[-1]["status"] == "complete", frames[-1]
    return frames


def asked_with(stub: OpenAIStub, marker: str) -> list[tuple[str, str]]:
    """The (role, content) messages of the one request whose last question has `marker`."""
    (request,) = [r for r in stub.requests if marker in last_question(r)]
    return [(m["role"], m["content"]) for m in request["messages"]]


@database_sync_to_async
def summaries_of(conversation: Conversation) -> list[Summary]:
    return list(Summary.objects.filter(conversation=conversation).order_by("created"))


async def summary_written(conversation: Conversation, count: int = 1) -> list[Summary]:
    async def written() -> list[Summary] | None:
        found = await summaries_of(conversation)
        return found if len(found) >= count else None

    return await wait_for(written, timeout=15, what="the summary to be stored")


async def test_a_long_conversation_sends_the_summary_then_the_recent_turns(
    stub: OpenAIStub, summaries_on: Any
) -> None:
    """The first request past the budget gets today's cut; after its answer the older
    part is summarised in the background (its usage recorded and charged), and the
    next request carries exactly [system prompt + summary, the turns after the branch
    point], in order, within the budget."""
    stub.replies += [
        Reply(deltas=[A3], asked="Q3"),
        Reply(deltas=[SUMMARY_TEXT], asked=ASKED),
        Reply(deltas=[A4], asked="Q4"),
    ]
    user, conversation, turns, ws = await chat(Q1, A1, Q2, A2)
    await send(ws, type="user_message", content=Q3)
    # No summary yet: today's cut (Q1 would make 450 > 400).
    assert asked_with(stub, "Q3") == [
        ("system", SYSTEM),
        ("assistant", A1),
        ("user", Q2),
        ("assistant", A2),
        ("user", Q3),
    ]
    (summary,) = await summary_written(conversation)
    # The summary call: the operator's prompt, then the turns up to its branch point.
    (system, prompt) = asked_with(stub, ASKED)
    assert system == ("system", SYSTEM) and prompt[0] == "user"
    assert prompt[1].startswith(ASKED)
    assert prompt[1].endswith(f"User: {Q1}\n\nAssistant: {A1}\n\nUser: {Q2}\n\nAssistant: {A2}")
    assert summary.covers_id == turns[3].pk and summary.status == Summary.Status.READY
    assert summary.text == SUMMARY_TEXT and not summary.edited
    assert summary.model_name == "stub-model"
    assert (summary.input_tokens, summary.output_tokens, summary.total_tokens) == (11, 4, 15)
    assert summary.duration_ms is not None
    # Charged like an answer: the answer's 15 tokens and the summary's 15.
    quota = await database_sync_to_async(UserQuota.objects.get)(user=user)
    assert quota.tokens_day == 30

    await send(ws, type="user_message", content=Q4)
    sent = asked_with(stub, "Q4")
    assert sent == [
        ("system", f"{SYSTEM}\n\n{SUMMARY_INTRO}\n{SUMMARY_TEXT}"),
        ("user", Q3),
        ("assistant", A3),
        ("user", Q4),
    ]
    assert len(SUMMARY_TEXT) + len(Q3) + len(A3) + len(Q4) <= BUDGET
    await summarising.settle()
    await ws.disconnect()


async def test_an_edit_before_the_branch_point_leaves_the_summary_behind(
    stub: OpenAIStub, summaries_on: Any
) -> None:
    """An edited question before the summary's branch point starts a path the summary
    does not cover: the answer gets today's cut, and a new summary of the new path is
    written after it."""
    stub.replies += [
        Reply(deltas=[A3], asked="Q3"),
        Reply(deltas=[SUMMARY_TEXT], asked=ASKED),
        Reply(deltas=["New answer."], asked="Q2 edited"),
        Reply(deltas=["Second summary."], asked=ASKED),
    ]
    _user, conversation, turns, ws = await chat(Q1, A1, Q2, A2)
    await send(ws, type="user_message", content=Q3)
    (first,) = await summary_written(conversation)
    assert first.covers_id == turns[3].pk  # A2: after Q2
    edited = text("Q2 edited", 250)
    await send(ws, type="edit", message_id=str(turns[2].pk), content=edited)
    assert asked_with(stub, "Q2 edited") == [
        ("system", SYSTEM),
        ("assistant", A1),
        ("user", edited),
    ]
    found = await summary_written(conversation, 2)
    second = found[-1]
    assert second.text == "Second summary." and second.covers_id != first.covers_id
    covered = await database_sync_to_async(Message.objects.get)(pk=second.covers_id)
    assert covered.content == edited  # the new path's, up to the edited question
    # Written afresh from the new path: the summary left behind is not built on.
    prompts = [last_question(r) for r in stub.requests if last_question(r).startswith(ASKED)]
    assert len(prompts) == 2
    assert prompts[1].endswith(f"User: {Q1}\n\nAssistant: {A1}\n\nUser: {edited}")
    assert SUMMARY_TEXT not in prompts[1]
    await summarising.settle()
    await ws.disconnect()


async def test_a_failed_summary_falls_back_to_the_cut_and_is_recorded(
    stub: OpenAIStub, summaries_on: Any, caplog: Any
) -> None:
    """The summary call fails (HTTP 500): it is stored as failed with its error code,
    logged in one line, and the next request is today's cut."""
    stub.replies += [
        Reply(deltas=[A3], asked="Q3"),
        Reply(status=500, asked=ASKED),
        Reply(deltas=[A4], asked="Q4"),
    ]
    _user, conversation, _turns, ws = await chat(Q1, A1, Q2, A2)
    with caplog.at_level("WARNING", logger="chat.streaming.answer.summarising"):
        await send(ws, type="user_message", content=Q3)
        (failed,) = await summary_written(conversation)
    assert failed.status == Summary.Status.FAILED and failed.error_code == "model_error"
    assert failed.text == "" and failed.model_name == "stub-model"
    lines = [r for r in caplog.records if r.name == "chat.streaming.answer.summarising"]
    assert len(lines) == 1 and "today's cut" in lines[0].getMessage()
    assert "\n" not in lines[0].getMessage() and lines[0].exc_info is None
    await send(ws, type="user_message", content=Q4)
    assert asked_with(stub, "Q4") == [
        ("system", SYSTEM),
        ("user", Q2),
        ("assistant", A2),
        ("user", Q3),
        ("assistant", A3),
        ("user", Q4),
    ]
    await summarising.settle()
    await ws.disconnect()


async def test_no_summary_is_written_once_the_days_budget_is_spent(
    stub: OpenAIStub, summaries_on: Any
) -> None:
    """Summaries count against the daily budget: with it spent, none is asked for and
    the next request is today's cut."""
    summaries_on.CHAT_DAILY_TOKEN_BUDGET = 1000
    user, conversation, turns, ws = await chat(Q1, A1, Q2, A2, Q3, A3)
    await database_sync_to_async(UserQuota.objects.update_or_create)(
        user=user, defaults={"day": timezone.now().date(), "tokens_day": 1000}
    )
    assert await summarising.summarise(str(conversation.pk), str(turns[-1].pk)) is None
    assert stub.requests == [] and await summaries_of(conversation) == []
    await ws.disconnect()


async def test_a_conversation_within_the_budget_asks_for_no_summary(
    stub: OpenAIStub, summaries_on: Any
) -> None:
    """Under the budget nothing is summarised: one request per answer, no row."""
    stub.replies += [Reply(deltas=["Short."], asked="Hello"), Reply(deltas=["Again."])]
    _user, conversation, _turns, ws = await chat()
    await send(ws, type="user_message", content="Hello")
    await send(ws, type="user_message", content="Once more")
    await summarising.settle()
    assert len(stub.requests) == 2 and await summaries_of(conversation) == []
    await ws.disconnect()
