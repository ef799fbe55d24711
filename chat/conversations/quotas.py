"""Per-user limits on the chat: messages per minute, answers at once, tokens per day.

They hold across server processes and cannot be reset by deleting conversations:
the counters live in the user's `UserQuota` row, which `exchanges_start` locks
while the user's answers start (`admit` decides), and `charge` adds each answer's
tokens to the day's total when it ends. `admit` itself is pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.errors import ErrorCode, Refusal
from chat.models import Conversation, Message, UserQuota

WINDOW = timedelta(minutes=1)
CHARS_PER_TOKEN = 4  # the estimate when a provider reports no usage
BUSY = "An answer is still being written. Wait or stop it."
ACTIVE_RETRY_SECONDS = 5  # the hint when too many answers run: one may end by then


class Refused(Refusal):
    """A user message the limits refuse (nothing is saved), with when known how many
    seconds until a retry may pass."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(None, message, retry_after=retry_after)


class ConversationBusy(Refused):
    code = ErrorCode.BUSY

    def __init__(self) -> None:
        super().__init__(BUSY)


class RateLimited(Refused):
    code = ErrorCode.RATE_LIMITED


class QuotaExceeded(Refused):
    code = ErrorCode.QUOTA_EXCEEDED


def admit(quota: UserQuota, *, active: int, now: datetime) -> Refused | None:
    """May this user start one more answer now? If so, the send is counted in
    `quota.recent_sends` (the caller saves it); otherwise the refusal."""
    budget = settings.CHAT_DAILY_TOKEN_BUDGET
    if budget and quota.day == now.date() and quota.tokens_day >= budget:
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
        wait = (midnight.replace(tzinfo=now.tzinfo) - now).total_seconds()
        return QuotaExceeded(
            "You have used today's token budget. It renews at midnight UTC.",
            retry_after=math.ceil(wait),
        )
    if active >= settings.CHAT_MAX_ACTIVE_ANSWERS_PER_USER:
        return RateLimited(
            f"You have {active} answers being written. Wait for one to finish.",
            retry_after=ACTIVE_RETRY_SECONDS,
        )
    recent = [sent for sent in quota.recent_sends if datetime.fromisoformat(sent) > now - WINDOW]
    if len(recent) >= settings.CHAT_RATE_LIMIT_PER_MINUTE:
        oldest = datetime.fromisoformat(recent[0])
        return RateLimited(
            "You are sending messages too fast. Wait a minute.",
            retry_after=max(1, math.ceil((oldest + WINDOW - now).total_seconds())),
        )
    quota.recent_sends = [*recent, now.isoformat()]
    return None


def lock(user_ids: Iterable[int]) -> dict[int, UserQuota]:
    """The users' quota rows, created if missing and locked (in one order, so two
    batches cannot deadlock) until the transaction ends."""
    ids = sorted(set(user_ids))
    UserQuota.objects.bulk_create([UserQuota(user_id=pk) for pk in ids], ignore_conflicts=True)
    rows = UserQuota.objects.select_for_update().filter(user_id__in=ids).order_by("user_id")
    return {row.user_id: row for row in rows}


def estimate_tokens(context: list[tuple[str, str]], text: str, *, system: str | None = None) -> int:
    """Tokens an answer cost when the provider reports none: about 4 characters each.
    `system`: the system prompt the model was sent (llm.system_prompt: the operator's
    and the conversation's instructions); None: the operator's alone."""
    prompt = settings.LLM_SYSTEM_PROMPT if system is None else system
    chars = len(prompt) + sum(len(c) for _, c in context) + len(text)
    return math.ceil(chars / CHARS_PER_TOKEN)


def charge(*, conversation_id: str, tokens: int) -> None:
    """Add an answer's tokens to its owner's total for the day (UTC)."""
    owner_id = (
        Conversation.objects.filter(pk=conversation_id).values_list("owner_id", flat=True).first()
    )
    if owner_id is None or tokens <= 0:
        return
    today = timezone.now().date()
    with transaction.atomic():
        (quota,) = lock([owner_id]).values()
        if quota.day != today:
            quota.day, quota.tokens_day = today, 0
        quota.tokens_day += tokens
        quota.save(update_fields=["day", "tokens_day"])


def precheck(*, user_id: int) -> Refused | None:
    """The limits as they stand, read without locking or counting: a request they
    refuse is refused before anything of it is written. (The start decides again under
    its locks: exchanges.py.)"""
    now = timezone.now()
    quota = UserQuota.objects.filter(user_id=user_id).first() or UserQuota(user_id=user_id)
    cutoff = now - timedelta(seconds=settings.CHAT_STALE_STREAM_SECONDS)
    active = Message.objects.filter(
        conversation__owner_id=user_id, status=Message.Status.STREAMING, updated__gte=cutoff
    ).count()
    return admit(quota, active=active, now=now)
