"""A long conversation's summaries (issue #25): reads and writes, synchronous like
selectors and services (async code calls them through `db_call`).

A summary covers the path from the root to its branch point (`covers`) and is kept
per point; the context of an answer uses the one deepest on its path
(`selectors.contexts_for_paths`). After an answer ends, `summary_due` says whether
the next request on its path would not fit the budget and what a new summary should
be written from: the previous summary on the path (so it is incremental) and the
turns after it up to the new point.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models.functions import Length

from chat.conversations import selectors
from chat.conversations.context_plan import Available, Plan, Turn, plan_context, summary_cap
from chat.models import Conversation, Message, Summary

# Room left for the next question when judging whether the next request fits.
NEXT_QUESTION_SHARE = 10  # a tenth of the budget
# What a summary is written from, at most, in units of the budget: the turns beyond
# it (the oldest of what is due) are left out of it.
INPUT_BUDGETS = 2


@dataclass(frozen=True)
class Due:
    """A summary to write: of `conversation_id` up to `covers`, from `previous` (the
    summary it extends, maybe empty) and `turns` (role, content) after it."""

    conversation_id: str
    covers: str
    owner_id: int
    model_key: str
    previous: str
    turns: list[tuple[str, str]] = field(default_factory=list)


def path_turns(path: list[str]) -> list[Turn]:
    """The turns of `path` (root first) that may go to the model, newest first."""
    wanted = path[-selectors.MAX_CONTEXT_MESSAGES :]
    lengths = {
        str(pk): (role, length)
        for pk, role, length in selectors._context_candidates()
        .filter(pk__in=wanted)
        .annotate(length=Length("content"))
        .values_list("pk", "role", "length")
    }
    return [Turn(m, lengths[m][0], lengths[m][1]) for m in reversed(wanted) if m in lengths]


def deepest_on_path(path: list[str]) -> Summary | None:
    """The summary, whatever its state, whose branch point is deepest on `path`."""
    found = {str(s.covers_id): s for s in Summary.objects.filter(covers__pk__in=path)}
    return next((found[m] for m in reversed(path) if m in found), None)


def plan_for_path(path: list[str], *, headroom: int = 0) -> tuple[Plan, Summary | None]:
    """What the next request after `path` would send (with `headroom` characters kept
    for a question) and the summary it would use."""
    turns = path_turns(path)
    summary = selectors.usable_summary(path, selectors.summaries_on_paths([path]))
    available = Available(str(summary.covers_id), len(summary.text)) if summary else None
    budget = settings.CHAT_HISTORY_CHAR_BUDGET - headroom
    return plan_context(turns, budget, available), summary


def summary_due(*, conversation_id: uuid.UUID | str, leaf_id: str) -> Due | None:
    """The summary to write after the answer `leaf_id` ended, if the next request on
    its path would not fit the budget and none stands in for the part it cuts; None
    otherwise, or when its owner cleared the summary at (or past) the point due."""
    conversation = Conversation.objects.only("owner_id", "model").get(pk=conversation_id)
    tree = selectors.conversation_tree(conversation_id=conversation_id)
    path = tree.path(leaf_id)
    headroom = settings.CHAT_HISTORY_CHAR_BUDGET // NEXT_QUESTION_SHARE
    plan, previous = plan_for_path(path, headroom=headroom)
    point = plan.summarise_up_to
    if point is None:
        return None
    place = path.index(point)
    last = deepest_on_path(path)
    cleared = last is not None and last.status == Summary.Status.CLEARED
    if cleared and last is not None and path.index(str(last.covers_id)) >= place:
        return None
    start = path.index(str(previous.covers_id)) + 1 if previous is not None else 0
    wanted = path[start : place + 1]
    texts = {
        str(pk): (role, content)
        for pk, role, content in selectors._context_candidates()
        .filter(pk__in=wanted)
        .values_list("pk", "role", "content")
    }
    room = INPUT_BUDGETS * settings.CHAT_HISTORY_CHAR_BUDGET
    turns: list[tuple[str, str]] = []
    for message_id in reversed(wanted):  # the newest of what is due, within `room`
        if message_id not in texts:
            continue
        room -= len(texts[message_id][1])
        if turns and room < 0:
            break
        turns.append(texts[message_id])
    turns.reverse()
    return Due(
        conversation_id=str(conversation_id),
        covers=point,
        owner_id=conversation.owner_id,
        model_key=settings.LLM_SUMMARY_MODEL or conversation.model,
        previous=previous.text if previous is not None else "",
        turns=turns,
    )


def summary_store(
    *,
    due: Due,
    text: str,
    model_name: str,
    usage: dict[str, int] | None,
    duration_ms: int,
    error_code: str = "",
) -> Summary | None:
    """Save a summary written (or, with `error_code`, failed) for `due`; None if its
    branch point is gone meanwhile (deleted with its conversation or branch)."""
    if not Message.objects.filter(pk=due.covers, conversation_id=due.conversation_id).exists():
        return None
    usage = usage or {}
    summary, _created = Summary.objects.update_or_create(
        conversation_id=due.conversation_id,
        covers_id=uuid.UUID(due.covers),
        defaults={
            "text": "" if error_code else text[: summary_cap(settings.CHAT_HISTORY_CHAR_BUDGET)],
            "status": Summary.Status.FAILED if error_code else Summary.Status.READY,
            "error_code": error_code,
            "edited": False,
            "model_name": model_name,
            "input_tokens": usage.get("input_tokens"),
            "output_tokens": usage.get("output_tokens"),
            "total_tokens": usage.get("total_tokens"),
            "duration_ms": duration_ms,
        },
    )
    return summary


def summary_current(*, conversation_id: uuid.UUID | str) -> tuple[Summary | None, Plan]:
    """The summary of the conversation's current path (the deepest on it, whatever its
    state) and what its next request would send (the context meter)."""
    _tree, path = selectors.current_path(conversation_id=conversation_id)
    plan, _used = plan_for_path(path)
    return deepest_on_path(path), plan


def summary_edit(*, summary: Summary, text: str) -> Summary:
    """Its owner's text stands in for the model's (and the next summary builds on it)."""
    summary.text, summary.edited = text, True
    summary.status, summary.error_code = Summary.Status.READY, ""
    summary.save(update_fields=["text", "edited", "status", "error_code", "updated"])
    return summary


def summary_clear(*, summary: Summary) -> Summary:
    """Cleared: the next answer gets today's cut, and no summary is written again up to
    this branch point (a later one is, once the path has grown past it)."""
    summary.text, summary.status, summary.error_code = "", Summary.Status.CLEARED, ""
    summary.save(update_fields=["text", "status", "error_code", "updated"])
    return summary


def summary_to_dict(summary: Summary | None, plan: Plan) -> dict[str, Any]:
    """The summary of the current path and the context meter, for the JSON API."""
    budget = settings.CHAT_HISTORY_CHAR_BUDGET
    meter = {"used": plan.length, "budget": budget, "cut": plan.cut, "summarised": plan.summary}
    if summary is None:
        return {"summary": None, "context": meter}
    return {
        "summary": {
            "text": summary.text,
            "covers_up_to": str(summary.covers_id),
            "status": summary.status,
            "error_code": summary.error_code or None,
            "edited": summary.edited,
            "model": summary.model_name,
            "usage": (
                None
                if summary.total_tokens is None
                else {
                    "input_tokens": summary.input_tokens,
                    "output_tokens": summary.output_tokens,
                    "total_tokens": summary.total_tokens,
                }
            ),
            "duration_ms": summary.duration_ms,
            "created": summary.created.isoformat(),
            "updated": summary.updated.isoformat(),
            "max_chars": summary_cap(budget),
        },
        "context": meter,
    }
