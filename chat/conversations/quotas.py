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
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import IntegerField, Sum, Transform
from django.utils import timezone

from chat import db
from chat.conversations import liveness
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


class StorageFull(Refused):
    code = ErrorCode.STORAGE_FULL


def admit(
    quota: UserQuota,
    *,
    active: int,
    now: datetime,
    reserved: int = 0,
    estimate: int = 0,
    stored: int = 0,
) -> Refused | None:
    """May this user start one more answer now? If so, the send is counted in
    `quota.recent_sends` (the caller saves it); otherwise the refusal. `reserved`: the
    tokens the user's streaming answers hold; `estimate`: this answer's; `stored`: the
    bytes of text the user keeps."""
    refusal = _over_budget(quota, now=now, reserved=reserved, estimate=estimate)
    if refusal is None:
        refusal = storage_refusal(stored=stored)
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


def estimate_tokens(context: list[tuple[str, str]], text: str, *, system: str | None = None) -> int:
    """Tokens an answer cost when the provider reports none: about 4 characters each.
    `system`: the system prompt the model was sent (llm.system_prompt: the operator's
    and the conversation's instructions); None: the operator's alone."""
    prompt = settings.LLM_SYSTEM_PROMPT if system is None else system
    chars = len(prompt) + sum(len(c) for _, c in context) + len(text)
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
    its locks: exchanges.py.) Every time is the database's (liveness.py)."""
    now = db.database_now()
    quota = UserQuota.objects.filter(user_id=user_id).first() or UserQuota(user_id=user_id)
    cutoff = now - liveness.stale_after()
    active = Message.objects.filter(
        conversation__owner_id=user_id, status=Message.Status.STREAMING, updated__gte=cutoff
    ).count()
    return admit(quota, active=active, now=now)


# --- Storage: what one user may keep ------------------------------------------------


class OctetLength(Transform):
    """The bytes a text takes: PostgreSQL reads it from the value's header (a long
    text is not read, as LENGTH would have to); SQLite counts characters."""

    function = "OCTET_LENGTH"
    output_field = IntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function="LENGTH", **extra)


def stored_bytes(user_ids: Iterable[int]) -> Counter[int]:
    """The bytes of message text each user keeps, in one query."""
    rows = (
        Message.objects.filter(conversation__owner__in=list(user_ids))
        .values_list("conversation__owner")
        .annotate(n=Sum(OctetLength("content")))
        .values_list("conversation__owner", "n")
    )
    return Counter({owner: n or 0 for owner, n in rows})


def storage_refusal(*, stored: int, conversations: int | None = None) -> StorageFull | None:
    """The user keeps as much as they may (CHAT_MAX_STORED_BYTES_PER_USER), or, when
    `conversations` is given, as many conversations (CHAT_MAX_CONVERSATIONS_PER_USER)."""
    most = settings.CHAT_MAX_CONVERSATIONS_PER_USER
    if conversations is not None and most and conversations >= most:
        return StorageFull(
            f"You have {conversations} conversations, the most one may keep. "
            "Delete some to start another."
        )
    cap = settings.CHAT_MAX_STORED_BYTES_PER_USER
    if cap and stored >= cap:
        return StorageFull(
            f"Your conversations hold as much text as one may keep ({cap // 1_000_000} MB). "
            "Delete some to write more."
        )
    return None


def storage_check(*, user_id: int) -> None:
    """Before a new conversation: StorageFull when the user may keep no more."""
    if not (settings.CHAT_MAX_CONVERSATIONS_PER_USER or settings.CHAT_MAX_STORED_BYTES_PER_USER):
        return
    count = Conversation.objects.filter(owner_id=user_id).count()
    stored = stored_bytes([user_id])[user_id] if settings.CHAT_MAX_STORED_BYTES_PER_USER else 0
    refusal = storage_refusal(stored=stored, conversations=count)
    if refusal is not None:
        raise refusal


# --- How often: conversations, presets, searches --------------------------------------

ACTIONS = {"conversation": "new conversations", "preset": "preset changes", "search": "searches"}


def throttle(*, user_id: int, action: str) -> None:
    """Count one `action` of the user (ACTIONS) in the last minute, across processes
    (their quota row, locked); RateLimited, with when to retry and nothing counted,
    past CHAT_ACTIONS_PER_MINUTE."""
    limit = settings.CHAT_ACTIONS_PER_MINUTE
    if limit <= 0:
        return
    now = timezone.now()
    with transaction.atomic():
        (quota,) = lock([user_id]).values()
        done = dict(quota.recent_actions or {})
        recent = [t for t in done.get(action, []) if datetime.fromisoformat(t) > now - WINDOW]
        if len(recent) >= limit:
            oldest = datetime.fromisoformat(recent[0])
            raise RateLimited(
                f"Too many {ACTIONS[action]} in a minute. Wait a moment and try again.",
                retry_after=max(1, math.ceil((oldest + WINDOW - now).total_seconds())),
            )
        done[action] = [*recent, now.isoformat()]
        quota.recent_actions = done
        quota.save(update_fields=["recent_actions"])
