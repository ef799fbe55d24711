"""Summaries of long conversations, written off the answer's critical path (issue #25).

After an answer ends complete, if the next request on its path would not fit
CHAT_HISTORY_CHAR_BUDGET and no summary stands in for what it would cut
(`summaries.summary_due`), a background task of the answer's process asks a model
(LLM_SUMMARY_MODEL, else the conversation's own, through the same provider code as
answers) to summarise the older part: the previous summary on the path and the turns
after it, so it is incremental. The summary is stored at its branch point, its usage
recorded on it (model, tokens, time) and charged to the owner's daily budget. An
answer that starts before it is stored gets today's cut. A failed call is stored as
`failed` with its error code (today's cut goes on), and logged in one line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict

from django.conf import settings

from chat.conversations import quotas, summaries
from chat.conversations.context_plan import summary_cap
from chat.db import db_call
from chat.models import Summary
from chat.provider import llm
from chat.provider.reach import unreachable
from chat.telemetry import log_events as events

logger = logging.getLogger(__name__)

PROMPT = (
    "Summarise the conversation below for whoever continues it. Keep the facts, names, "
    "numbers, decisions, the user's wishes and the open questions; write in the "
    "conversation's language, in at most {cap} characters. Answer with the summary only."
)
EARLIER = "Summary of what came before:"
SPEAKERS = {"user": "User", "assistant": "Assistant"}
SUMMARY_SECONDS = 120.0
MIN_SUMMARY_TOKENS = 64


class EmptySummary(Exception):
    """The model answered with nothing."""


def prompt(due: summaries.Due) -> str:
    """What the model is asked: the rules, the previous summary, then the turns."""
    cap = summary_cap(settings.CHAT_HISTORY_CHAR_BUDGET)
    parts = [PROMPT.format(cap=cap)]
    if due.previous:
        parts.append(f"{EARLIER}\n{due.previous}")
    parts += [f"{SPEAKERS.get(role, role)}: {content}" for role, content in due.turns]
    return "\n\n".join(parts)


# One summary at a time per conversation, referenced here (asyncio keeps weak ones).
_running: dict[str, asyncio.Task[Summary | None]] = {}


def summarise_after(
    conversation_id: str,
    answer_id: str,
    *,
    user_id: int | None,
    held: int | None = None,
) -> None:
    """Called when an answer has ended complete: check, and summarise in the background.
    `held`: the characters of its request's history and of its text, when known. Under
    half the budget nothing is due (a cut would have dropped a turn longer than the
    rest of the budget: it is summarised once the recent turns reach half of it), and
    the check's queries are skipped."""
    if not settings.CHAT_SUMMARIES or user_id is None or conversation_id in _running:
        return
    if held is not None and held <= settings.CHAT_HISTORY_CHAR_BUDGET // 2:
        return
    task = asyncio.get_running_loop().create_task(
        summarise(conversation_id, answer_id), name=f"summary-{conversation_id}"
    )
    _running[conversation_id] = task
    task.add_done_callback(lambda t: _running.pop(conversation_id, None))
    task.add_done_callback(lambda t: t.cancelled() or t.exception())


async def settle(timeout: float = 30.0) -> None:
    """Wait for the summaries being written (tests, the bench, shutdown)."""
    if _running:
        await asyncio.wait(list(_running.values()), timeout=timeout)


async def summarise(conversation_id: str, answer_id: str) -> Summary | None:
    """Write the summary due after `answer_id`, if one is; the stored row or None."""
    try:
        due = await db_call(summaries.summary_due)(
            conversation_id=conversation_id, leaf_id=answer_id
        )
        if due is None:
            return None
        if settings.CHAT_DAILY_TOKEN_BUDGET:
            usage = await db_call(quotas.usage_today)(user_id=due.owner_id)
            if usage.remaining == 0:  # the budget bounds summaries too: today's cut
                logger.info("no summary for conversation %s: budget spent", conversation_id)
                return None
        return await _write(due)
    except Exception:
        logger.warning("summary of conversation %s not written", conversation_id, exc_info=True)
        return None


async def _write(due: summaries.Due) -> Summary | None:
    asked = prompt(due)
    cap = summary_cap(settings.CHAT_HISTORY_CHAR_BUDGET)
    limits = llm.AnswerLimits(max_tokens=max(cap // 2, MIN_SUMMARY_TOKENS))
    model_name = llm.model_display_name(due.model_key)
    started = time.monotonic()
    pieces: list[str] = []
    usage: dict[str, int] | None = None
    error_code = ""
    try:
        stream = llm.stream_answer([("user", asked)], model_key=due.model_key, limits=limits)
        async with asyncio.timeout(SUMMARY_SECONDS):
            async for item in stream:
                if isinstance(item, llm.Usage):
                    usage = asdict(item)
                elif isinstance(item, str):
                    pieces.append(item)
        if not "".join(pieces).strip():
            raise EmptySummary
    except Exception as exc:
        error_code, _sentence = llm.describe_failure(exc)
        server = unreachable(exc)
        reason = server.log_line() if server is not None else repr(exc)
        logger.warning(
            "summary of conversation %s failed (%s), today's cut instead: %s",
            due.conversation_id,
            error_code,
            reason,
        )
    duration_ms = round((time.monotonic() - started) * 1000)
    text = "".join(pieces).strip()
    if usage and usage.get("total_tokens"):
        tokens = usage["total_tokens"]
    else:  # none reported: estimated from what was sent and written, as answers are
        tokens = quotas.estimate_tokens([("user", asked)], text) if not error_code else 0
    if tokens:
        await db_call(quotas.charge)(user_id=due.owner_id, tokens=tokens)
    summary = await db_call(summaries.summary_store)(
        due=due,
        text=text,
        model_name=model_name,
        usage=usage,
        duration_ms=duration_ms,
        error_code=error_code,
    )
    events.emit(
        "summary_finished",
        user_id=due.owner_id,
        conversation=due.conversation_id,
        covers=due.covers,
        model=model_name,
        status=Summary.Status.FAILED if error_code else Summary.Status.READY,
        error_code=error_code,
        duration_ms=duration_ms,
        tokens=tokens,
        chars=len(text),
    )
    return summary
