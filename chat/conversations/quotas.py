"""Per-user limits on the chat: messages per minute, answers at once, tokens per day.

They hold across server processes and cannot be reset by deleting conversations:
the counters live in the user's `UserQuota` row, which `exchanges_start` locks
while the user's answers start (`admit` decides), and `charge` adds each answer's
tokens to the day's total of the user who asked when it ends. While an answer
streams, its estimate (`reservation`) is held on its message (`reserved_tokens`):
a second answer at once is admitted only if both fit in what is left of the day's
budget. `admit` itself is pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.errors import ErrorCode, Refusal
from chat.models import Message, UserQuota

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


def admit(
    quota: UserQuota, *, active: int, now: datetime, reserved: int = 0, estimate: int = 0
) -> Refused | None:
    """May this user start one more answer now? If so, the send is counted in
    `quota.recent_sends` (the caller saves it); otherwise the refusal. `reserved`: the
    tokens the user's streaming answers hold; `estimate`: this answer's."""
    refusal = _over_budget(quota, now=now, reserved=reserved, estimate=estimate)
    if refusal is not None:
        return refusal
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


def _over_budget(
    quota: UserQuota, *, now: datetime, reserved: int, estimate: int
) -> Refused | None:
    """The day's budget is spent, or the answers streaming now hold so much of it that
    this one could run past it too. (An answer alone is admitted while some budget is
    left: its cap, LLM_MAX_TOKENS, bounds how far it can go past.)"""
    budget = settings.CHAT_DAILY_TOKEN_BUDGET
    used = quota.tokens_day if quota.day == now.date() else 0
    if not budget:
        return None
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
    wait = math.ceil((midnight.replace(tzinfo=now.tzinfo) - now).total_seconds())
    if used >= budget:
        return QuotaExceeded(
            "You have used today's token budget. It renews at midnight UTC.", retry_after=wait
        )
    if reserved and used + reserved + estimate > budget:
        return QuotaExceeded(
            "Your answers being written may use the rest of today's token budget. "
            "Wait for them to finish.",
            retry_after=ACTIVE_RETRY_SECONDS,
        )
    return None


def lock(user_ids: Iterable[int]) -> dict[int, UserQuota]:
    """The users' quota rows, created if missing and locked (in one order, so two
    batches cannot deadlock) until the transaction ends."""
    ids = sorted(set(user_ids))
    UserQuota.objects.bulk_create([UserQuota(user_id=pk) for pk in ids], ignore_conflicts=True)
    rows = UserQuota.objects.select_for_update().filter(user_id__in=ids).order_by("user_id")
    return {row.user_id: row for row in rows}


def estimate_tokens(context: list[tuple[str, str]], text: str) -> int:
    """Tokens an answer cost when the provider reports none: about 4 characters each."""
    chars = len(settings.LLM_SYSTEM_PROMPT) + sum(len(c) for _, c in context) + len(text)
    return math.ceil(chars / CHARS_PER_TOKEN)


def reservation(context_chars: int) -> int:
    """The tokens an answer may cost, held while it streams: its context (the
    operator's and the user's instructions, the history and the question) at about 4
    characters a token, and the longest answer the model may write (LLM_MAX_TOKENS)."""
    return math.ceil(context_chars / CHARS_PER_TOKEN) + max(settings.LLM_MAX_TOKENS, 0)


def charge(*, user_id: int, tokens: int) -> None:
    """Add an answer's tokens to the day's total (UTC) of the user who asked for it:
    known from the start, so deleting the conversation meanwhile changes nothing."""
    if tokens <= 0:
        return
    today = timezone.now().date()
    with transaction.atomic():
        (quota,) = lock([user_id]).values()
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
