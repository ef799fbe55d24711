"""The end of an answer, once its stream is over: the tokens counted against the
budget of the user who asked, the final save (which ends its reservation),
`chat.end` to every tab, and the model's title.

Each step stands alone, for the answer (generation.py) to run in order: the save
comes before `chat.end` so a tab that missed deltas can read the rest from the
database. Calls that can wait out an outage go through the one retry helper.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypedDict

from django.conf import settings
from django.utils.translation import gettext_noop

from chat import contract
from chat.conversations import quotas, services
from chat.db import db_call
from chat.errors import ErrorCode
from chat.models import Message
from chat.provider import llm
from chat.streaming.answer import summarising, titles
from chat.streaming.answer.relay import Relay
from chat.streaming.answer.retry import retrying
from chat.telemetry import log_events as events
from chat.telemetry import metrics

logger = logging.getLogger(__name__)

SAVE_ERROR = gettext_noop("The answer could not be saved: the database is unavailable.")
# After CHAT_FINAL_SAVE_SECONDS the tabs are told the answer failed; its text is still
# saved (as that error) if the database returns within this many times as long.
LATE_SAVE_FACTOR = 10


@dataclass(frozen=True)
class Outcome:
    """How an answer ended: its status, and its error code and message if it failed."""

    status: str
    error_code: str = ""
    error: str = ""

    def fields(self) -> OutcomeFields:
        return {"status": self.status, "error_code": self.error_code, "error": self.error}


class OutcomeFields(TypedDict):
    status: str
    error_code: str
    error: str


@dataclass(frozen=True)
class Ended:
    """An answer whose stream is over, as its finish saves, counts and announces it."""

    conversation_id: str
    message_id: str
    user_id: int | None
    model_name: str
    model_key: str | None
    context: list[tuple[str, str]] | None
    text: str
    prefix_length: int
    ttft_ms: int | None
    duration_ms: int
    usage: dict[str, int] | None
    finish_reason: str
    instructions: str = ""  # the conversation's (or API client's), as the model got them


async def save(answer: Ended, outcome: Outcome) -> Outcome:
    """The final save, tried again through a database outage for
    CHAT_FINAL_SAVE_SECONDS. Returns the outcome as saved: another process's if it
    settled the answer first; `unavailable` if the database stayed down (the text is
    then saved as that error, in the background, if it comes back in time)."""
    try:
        saved = await retrying(
            lambda: _save(answer, outcome),
            what=f"final save of answer {answer.message_id}",
            errors=metrics.DATABASE_ERRORS,
            seconds=settings.CHAT_FINAL_SAVE_SECONDS,
        )
    except Exception:  # the database stayed down: tell the tabs, keep trying
        unsaved = Outcome(Message.Status.ERROR, ErrorCode.UNAVAILABLE, SAVE_ERROR)
        late = retrying(
            lambda: _save(answer, unsaved),
            what=f"late save of answer {answer.message_id}",
            errors=metrics.DATABASE_ERRORS,
            seconds=settings.CHAT_FINAL_SAVE_SECONDS * LATE_SAVE_FACTOR,
        )
        _keep(late, f"answer-{answer.message_id}-late-save")
        return unsaved
    if saved is not None and saved.status != outcome.status:  # another process settled it
        return Outcome(saved.status, saved.error_code, saved.error)
    return outcome


async def _save(answer: Ended, outcome: Outcome) -> Message | None:
    return await db_call(services.message_finish)(
        message_id=answer.message_id,
        content=answer.text,
        status=outcome.status,
        error=outcome.error,
        error_code=outcome.error_code,
        ttft_ms=answer.ttft_ms,
        duration_ms=answer.duration_ms,
        usage=answer.usage,
        finish_reason=answer.finish_reason,
    )


def record(answer: Ended, outcome: Outcome) -> None:
    """The process's metrics and the `chat.events` line of the finished answer."""
    metrics.answer_finished(outcome.status, answer.ttft_ms, answer.duration_ms)
    events.answer_finished(
        user_id=answer.user_id,
        conversation=answer.conversation_id,
        message_id=answer.message_id,
        model=answer.model_name,
        status=outcome.status,
        error_code=outcome.error_code,
        ttft_ms=answer.ttft_ms,
        duration_ms=answer.duration_ms,
        usage=answer.usage,
        text=answer.text,
    )


async def charge(answer: Ended) -> None:
    """Count the answer's tokens against the daily budget of the user who asked (its
    reservation ends with its `streaming` status, at the save that follows)."""
    if answer.user_id is None:  # every answer has one (post.py): said for the type
        return
    if answer.usage and answer.usage.get("total_tokens"):
        tokens = answer.usage["total_tokens"]
    else:  # the provider reported none: estimate from the characters the model wrote
        written = answer.text[answer.prefix_length :]
        system = llm.system_prompt(answer.instructions)  # what the model was told
        tokens = quotas.estimate_tokens(answer.context or [], written, system=system)
    try:
        await db_call(quotas.charge)(user_id=answer.user_id, tokens=tokens)
    except Exception:
        metrics.DATABASE_ERRORS.inc()
        logger.warning("answer %s: its tokens could not be counted", answer.message_id)


async def announce(answer: Ended, outcome: Outcome, relay: Relay) -> None:
    """Publish `chat.end` (to this process's tabs at once, to the others' through the
    layer in the background): a tab that still misses it learns the end from the saved
    answer (its watchdog)."""
    await relay.publish(
        contract.chat_end(
            answer.message_id,
            length=len(answer.text),
            usage=answer.usage,
            ttft_ms=answer.ttft_ms,
            duration_ms=answer.duration_ms,
            finish_reason=answer.finish_reason,
            **outcome.fields(),
        )
    )


def title(answer: Ended, outcome: Outcome, relay: Relay) -> None:
    """Have the model title the conversation, in the background, if the setting is on
    and the answer is complete (titles.py decides whether it is the first)."""
    if settings.CHAT_MODEL_TITLES and outcome.status == Message.Status.COMPLETE:
        writing = titles.write_title(answer.conversation_id, answer.model_key, relay)
        _keep(writing, f"answer-{answer.message_id}-title")


def summarise(answer: Ended, outcome: Outcome) -> None:
    """Have the conversation's older part summarised, in the background, if the answer
    is complete and the next request on its path would not fit (summarising.py)."""
    if outcome.status == Message.Status.COMPLETE:
        held = None
        if answer.context is not None:
            held = sum(len(content) for _, content in answer.context) + len(answer.text)
        summarising.summarise_after(
            answer.conversation_id, answer.message_id, user_id=answer.user_id, held=held
        )


# Late saves and titles run detached from their answer (which has ended): kept here.
_late: set[asyncio.Task[object]] = set()


def _keep(coroutine: Coroutine[Any, Any, object], name: str) -> None:
    task = asyncio.get_running_loop().create_task(coroutine, name=name)
    _late.add(task)
    task.add_done_callback(_late.discard)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
