"""Database reads and writes for conversations and messages.

Synchronous on purpose: views call them directly, async code through `db_call`.
Every rule that must hold across server processes is enforced in the database, not
in a process's memory: starting an answer (one at a time per conversation,
idempotent resends, rate limits) in `chat/exchanges.py`, the rest here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from . import db
from .contract import INTERRUPTED_ERROR, ErrorCode
from .models import Conversation, Feedback, Message


class ConversationBusy(Exception):
    """An answer is already streaming in this conversation."""


class RateLimited(Exception):
    """The user sent more messages in the last minute than CHAT_RATE_LIMIT_PER_MINUTE."""


@dataclass
class Exchange:
    user_message: Message
    assistant_message: Message | None  # None when a resend matched an earlier message
    # What the model receives for the answer, read in the same transaction.
    context: list[tuple[str, str]] = field(default_factory=list)


def parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def derive_title(content: str, limit: int = 60) -> str:
    """A conversation's title: the first line of its first message, shortened on a word."""
    first = next((line.strip() for line in content.splitlines() if line.strip()), "")
    if len(first) <= limit:
        return first
    cut = first[:limit].rsplit(" ", 1)[0] if " " in first[:limit] else first[:limit]
    return cut.rstrip() + "…"


# --- Conversations --------------------------------------------------------------


def conversation_list(*, user: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).order_by("-updated")


def conversation_get(*, user: Any, conversation_id: Any) -> Conversation:
    """The user's conversation; DoesNotExist for a bad id, a missing one or another's."""
    pk = parse_uuid(conversation_id)
    if pk is None or not getattr(user, "is_authenticated", False):
        raise Conversation.DoesNotExist
    return Conversation.objects.get(pk=pk, owner=user)


def conversation_create(*, owner: Any, title: str = "") -> Conversation:
    return Conversation.objects.create(owner=owner, title=title.strip())


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = title.strip()
    conversation.save(update_fields=["title", "updated"])
    return conversation


def conversation_to_dict(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "created": conversation.created.isoformat(),
        "updated": conversation.updated.isoformat(),
    }


# --- Messages ---------------------------------------------------------------------


def feedback_to_dict(message: Message) -> dict[str, Any] | None:
    try:
        feedback = message.feedback
    except Feedback.DoesNotExist:
        return None
    return {"rating": "up" if feedback.rating > 0 else "down", "comment": feedback.comment}


def message_to_dict(message: Message) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "created": message.created.isoformat(),
        "model": message.model_name,
        "ttft_ms": message.ttft_ms,
        "duration_ms": message.duration_ms,
        "usage": message.usage,
        "error": message.error,
        "error_code": message.error_code,
        "feedback": feedback_to_dict(message) if message.role == Message.Role.ASSISTANT else None,
    }


def messages_sweep_stale(*, conversation_id: Any) -> int:
    """Mark answers left `streaming` by a dead process as errors; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.CHAT_STALE_STREAM_SECONDS)
    return Message.objects.filter(
        conversation_id=conversation_id, status=Message.Status.STREAMING, updated__lt=cutoff
    ).update(
        status=Message.Status.ERROR,
        error=INTERRUPTED_ERROR,
        error_code=ErrorCode.INTERRUPTED,
        updated=timezone.now(),
    )


def conversation_messages(*, conversation_id: Any) -> list[Message]:
    messages_sweep_stale(conversation_id=conversation_id)
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .select_related("feedback")
        .order_by("created")
    )


def model_context(*, assistant_message_id: Any) -> list[tuple[str, str]]:
    """(role, content) pairs that go to the model before an answer (see pick_context)."""
    answer = Message.objects.only("conversation_id", "created").get(pk=assistant_message_id)
    return context_before(answer.conversation_id, answer.created)


def context_before(conversation_id: Any, created: Any) -> list[tuple[str, str]]:
    """What the model receives for an answer created at `created` (see pick_context)."""
    newest_first = (
        _context_candidates()
        .filter(conversation_id=conversation_id, created__lt=created)
        .order_by("-created")
        .values_list("role", "content")[:MAX_CONTEXT_MESSAGES]
    )
    return pick_context(newest_first)


def contexts_latest(conversation_ids: list[Any]) -> dict[str, list[tuple[str, str]]]:
    """`context_before` for the next answer of each conversation, in one query."""
    ranked = (
        _context_candidates()
        .filter(conversation_id__in=conversation_ids)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("conversation_id")], order_by=F("created").desc()
            )
        )
        .filter(rank__lte=MAX_CONTEXT_MESSAGES)
        .order_by("conversation_id", "-created")
        .values_list("conversation_id", "role", "content")
    )
    newest_first: dict[str, list[tuple[str, str]]] = {str(pk): [] for pk in conversation_ids}
    for conversation_id, role, content in ranked:
        newest_first[str(conversation_id)].append((role, content))
    return {pk: pick_context(rows) for pk, rows in newest_first.items()}


MAX_CONTEXT_MESSAGES = 500


def _context_candidates() -> QuerySet[Message]:
    # Only finished text counts: no errors, no answer still streaming, nothing empty.
    return Message.objects.exclude(
        status__in=[Message.Status.ERROR, Message.Status.STREAMING]
    ).exclude(content="")


def pick_context(newest_first: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(role, content) pairs in order, newest kept first: older messages are dropped
    once CHAT_HISTORY_CHAR_BUDGET characters are used, but the latest one always goes."""
    budget = settings.CHAT_HISTORY_CHAR_BUDGET
    picked: list[tuple[str, str]] = []
    for role, content in newest_first:
        if picked and len(content) > budget:
            break
        picked.append((role, content))
        budget -= len(content)
    picked.reverse()
    return picked


def messages_save_progress(*, contents: dict[str, str]) -> None:
    """Periodic save of every streaming answer of a process: bounds the loss on a crash
    and doubles as their heartbeat. One transaction, one round trip."""
    now = timezone.now()
    status = connection.ops.quote_name(Message._meta.get_field("status").column)
    with transaction.atomic():
        db.update_rows(
            Message,
            ["content", "updated"],
            f"{status} = %s",
            [
                [text, now, uuid.UUID(str(pk)), Message.Status.STREAMING]
                for pk, text in contents.items()
            ],
        )


def message_finish(
    *,
    message_id: Any,
    content: str,
    status: str,
    error: str = "",
    error_code: str = "",
    ttft_ms: int | None = None,
    duration_ms: int | None = None,
    usage: dict[str, int] | None = None,
) -> None:
    """Final save of an answer: its whole text, a definite status and the metrics."""
    usage = usage or {}
    Message.objects.filter(pk=message_id).update(
        content=content,
        status=status,
        error=error,
        error_code=error_code,
        ttft_ms=ttft_ms,
        duration_ms=duration_ms,
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        total_tokens=usage.get("total_tokens"),
        updated=timezone.now(),
    )


class FeedbackNotAllowed(Exception):
    """Feedback is for the owner's finished assistant answers only."""


def feedback_set(*, user: Any, message_id: Any, rating: int | None, comment: str = "") -> Message:
    """Record, change or (rating None) withdraw the user's thumbs on an answer."""
    pk = parse_uuid(message_id)
    if pk is None:
        raise Message.DoesNotExist
    message = Message.objects.select_related("conversation").get(pk=pk, conversation__owner=user)
    if message.role != Message.Role.ASSISTANT or message.status == Message.Status.STREAMING:
        raise FeedbackNotAllowed
    if rating is None:
        Feedback.objects.filter(message=message).delete()
    else:
        Feedback.objects.update_or_create(
            message=message, defaults={"rating": rating, "comment": comment.strip()}
        )
    return Message.objects.select_related("feedback").get(pk=message.pk)
