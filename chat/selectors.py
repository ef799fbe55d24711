"""Database reads for conversations and messages: no side effects, ever.

Writes (including the stale-answer sweep that some reads want first) are in
services.py. Synchronous like services: views call them directly, async code
through `db_call`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from .models import Conversation, Feedback, Message


def parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


# --- Conversations --------------------------------------------------------------


def conversation_list(*, user: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).order_by("-updated")


def conversation_get(*, user: Any, conversation_id: Any) -> Conversation:
    """The user's conversation; DoesNotExist for a bad id, a missing one or another's."""
    pk = parse_uuid(conversation_id)
    if pk is None or not getattr(user, "is_authenticated", False):
        raise Conversation.DoesNotExist
    return Conversation.objects.get(pk=pk, owner=user)


def conversations_contents_count(*, conversation_ids: list[Any]) -> dict[type, int]:
    """How many messages and feedback entries the conversations hold, by model: what
    deleting them removes with them."""
    return {
        Message: Message.objects.filter(conversation_id__in=conversation_ids).count(),
        Feedback: Feedback.objects.filter(message__conversation_id__in=conversation_ids).count(),
    }


# --- Messages ---------------------------------------------------------------------


def conversation_messages(*, conversation_id: Any) -> list[Message]:
    """A conversation's messages, oldest first, with their feedback. Answers left
    `streaming` by a dead process are not swept here: see `services.conversation_open`."""
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .select_related("feedback")
        .order_by("created")
    )


def conversation_page(
    *, conversation_id: Any, limit: int, before: Any = None
) -> tuple[list[Message], bool]:
    """The newest `limit` messages (of those older than message `before`, when given),
    oldest first, and whether there are older ones. DoesNotExist: no such `before`."""
    messages = Message.objects.filter(conversation_id=conversation_id)
    if before is not None:
        pk = parse_uuid(before)
        anchor = messages.filter(pk=pk).values_list("created", flat=True).first() if pk else None
        if anchor is None:
            raise Message.DoesNotExist
        messages = messages.filter(created__lt=anchor)
    newest = list(messages.select_related("feedback").order_by("-created", "-pk")[: limit + 1])
    return newest[:limit][::-1], len(newest) > limit


# --- What the model receives --------------------------------------------------------


def message_get(*, message_id: Any) -> Message | None:
    """One message with its feedback, as saved now; None if there is none (deleted)."""
    return Message.objects.select_related("feedback").filter(pk=message_id).first()


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
