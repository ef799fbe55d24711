"""Per-user limits on the chat: messages per minute, answers at once, tokens per day.

They hold across server processes and cannot be reset by deleting conversations:
the counters live in the user's `UserQuota` row, which `exchanges_start` locks
while the user's answers start (`admit` decides), and `charge` adds each answer's
tokens to the day's total of the user who asked when it ends. While an answer
streams, its estimate (`reservation`) is held on its message (`reserved_tokens`):
a second answer at once is admitted only if both fit in what is left of the day's
budget. `admit` itself is pure. `usage_today` reads what the user has used of the
day's budget, what their streaming answers hold and when it renews (the meter,
/api/usage/).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, IntegerField, Q, Sum, Transform
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat import db
from chat.conversations import liveness
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation, Message, UserQuota

if TYPE_CHECKING:
    from chat.errors import Sentence

WINDOW = timedelta(minutes=1)
CHARS_PER_TOKEN = 4  # the estimate when a provider reports no usage
BUSY = _("An answer is still being written. Wait or stop it.")
ACTIVE_RETRY_SECONDS = 5  # the hint when too many answers run: one may end by then


class Refused(Refusal):
    """A user message the limits refuse (nothing is saved), with when known how many
    seconds until a retry may pass; `extra`: more fields for the door's error body."""

    def __init__(
        self, message: Sentence, retry_after: float | None = None, **extra: object
    ) -> None:
        super().__init__(None, message, retry_after=retry_after)
        self.extra = extra


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
            format_lazy(
                _("You have {active} answers being written. Wait for one to finish."),
                active=active,
            ),
            retry_after=ACTIVE_RETRY_SECONDS,
        )
    recent = [sent for sent in quota.recent_sends if datetime.fromisoformat(sent) > now - WINDOW]
    if len(recent) >= settings.CHAT_RATE_LIMIT_PER_MINUTE:
        oldest = datetime.fromisoformat(recent[0])
        return RateLimited(
            _("You are sending messages too fast. Wait a minute."),
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
    if not budget:
        return None
    used = used_today(quota, now=now)
    if used >= budget:
        return budget_spent(budget=budget, now=now)
    if reserved and used + reserved + estimate > budget:
        return QuotaExceeded(
            _(
                "Your answers being written may use the rest of today's token budget. "
                "Wait for them to finish."
            ),
            retry_after=ACTIVE_RETRY_SECONDS,
        )
    return None


def budget_spent(*, budget: int, now: datetime) -> QuotaExceeded:
    """The refusal once the day's budget is used: it names when it renews (issue #22),
    and says it in `retry_after` (seconds) and `resets_at` (ISO 8601, UTC)."""
    resets_at = next_midnight(now)
    wait = math.ceil((resets_at - now).total_seconds())
    return QuotaExceeded(
        format_lazy(
            _(
                "You have used today's budget of {budget} tokens. "
                "It renews at {time} UTC (in {wait})."
            ),
            budget=f"{budget:,}",
            time=f"{resets_at:%H:%M}",
            wait=wait_words(wait),
        ),
        retry_after=wait,
        resets_at=iso_utc(resets_at),
    )


def lock(user_ids: Iterable[int]) -> dict[int, UserQuota]:
    """The users' quota rows, created if missing and locked (in key order) until the
    transaction ends. Every row there (a user's every message but the first): one
    statement; else the missing are created first, as before, and all locked again (a
    deadlock with another batch then is retried by the exchanges' batcher)."""
    ids = sorted(set(user_ids))
    locking = UserQuota.objects.select_for_update().order_by("user_id")
    rows = {row.user_id: row for row in locking.filter(user_id__in=ids)}
    if len(rows) == len(ids):
        return rows
    UserQuota.objects.bulk_create([UserQuota(user_id=pk) for pk in ids], ignore_conflicts=True)
    return {row.user_id: row for row in locking.filter(user_id__in=ids)}


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
    return prechecks(user_ids=[user_id])[0]


def prechecks(*, user_ids: list[int]) -> list[Refused | None]:
    """`precheck` for many users at once, in three reads for all; one outcome per id
    (a user asking twice is judged twice from the same reads, as two requests at the
    same moment would be)."""
    now = db.database_now()
    wanted = set(user_ids)
    rows = {q.user_id: q for q in UserQuota.objects.filter(user_id__in=wanted)}
    cutoff = now - liveness.stale_after()
    active = Counter(
        dict(
            Message.objects.filter(
                conversation__owner_id__in=wanted,
                status=Message.Status.STREAMING,
                updated__gte=cutoff,
            )
            .values_list("conversation__owner_id")
            .annotate(n=Count("pk"))
            .values_list("conversation__owner_id", "n")
        )
    )
    return [
        admit(rows.get(user_id) or UserQuota(user_id=user_id), active=active[user_id], now=now)
        for user_id in user_ids
    ]


# --- The day's token budget as the user sees it (issue #22) -------------------------


@dataclass(frozen=True)
class Usage:
    """A user's day against CHAT_DAILY_TOKEN_BUDGET (None: no budget)."""

    used: int  # tokens charged today (UTC)
    held: int  # tokens the user's streaming answers hold (their estimates)
    budget: int | None
    resets_at: datetime  # the next midnight UTC

    @property
    def remaining(self) -> int | None:
        return None if self.budget is None else max(self.budget - self.used, 0)


def usage_of(quota: UserQuota, *, now: datetime, held: int) -> Usage:
    """What `quota` says of the day at `now` (the database's clock): pure."""
    budget = settings.CHAT_DAILY_TOKEN_BUDGET
    return Usage(
        used=used_today(quota, now=now),
        held=held,
        budget=budget if budget > 0 else None,
        resets_at=next_midnight(now),
    )


def usage_today(*, user_id: int) -> Usage:
    """The user's usage of today's budget, read without locking (the meter and
    /api/usage/). Days are the database clock's, as at admission."""
    now = db.database_now()
    quota = UserQuota.objects.filter(user_id=user_id).first() or UserQuota(user_id=user_id)
    _active, reserved = streaming_answers({user_id}, now - liveness.stale_after())
    return usage_of(quota, now=now, held=reserved[user_id])


def streaming_answers(users: set[int], cutoff: datetime) -> tuple[Counter[int], Counter[int]]:
    """How many answers each user has streaming now, and the tokens they hold (one not
    saved since `cutoff` is stale, its process dead: it counts for neither): one query."""
    rows = (
        Message.objects.filter(
            conversation__owner__in=users,
            status=Message.Status.STREAMING,
            updated__gte=cutoff,
        )
        .values_list("conversation__owner")
        .annotate(n=Count("pk"), held=Sum("reserved_tokens"))
        .values_list("conversation__owner", "n", "held")
    )
    active: Counter[int] = Counter()
    reserved: Counter[int] = Counter()
    for owner, n, held in rows:
        active[owner], reserved[owner] = n, held or 0
    return active, reserved


def used_today(quota: UserQuota, *, now: datetime) -> int:
    """The tokens `quota` counts for the UTC day of `now` (a count of an earlier day: 0)."""
    return quota.tokens_day if quota.day == now.astimezone(UTC).date() else 0


def next_midnight(now: datetime) -> datetime:
    """When the day's budget renews: the first midnight UTC after `now` (aware)."""
    return datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time.min, tzinfo=UTC)


def iso_utc(moment: datetime) -> str:
    """`2026-12-08T00:00:00Z`: an instant in UTC, as the APIs send it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_words(seconds: float) -> Sentence:
    """A wait in words for a sentence ("3 h 12 min", "45 min", "2 h"): minutes are
    rounded up, so it never names a time before the renewal; under a minute, "less
    than a minute"."""
    if seconds < 60:
        return _("less than a minute")
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    if not hours:
        return format_lazy(_("{minutes} min"), minutes=minutes)
    if not minutes:
        return format_lazy(_("{hours} h"), hours=hours)
    return format_lazy(_("{hours} h {minutes} min"), hours=hours, minutes=minutes)


# --- Storage: what one user may keep ------------------------------------------------


class OctetLength(Transform):
    """The bytes a text takes: PostgreSQL reads it from the value's header (a long
    text is not read, as LENGTH would have to); SQLite counts the bytes of its UTF-8
    text as a blob (LENGTH of the text alone would count characters)."""

    function = "OCTET_LENGTH"
    output_field = IntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "LENGTH(CAST(%(expressions)s AS BLOB))"
        return self.as_sql(compiler, connection, template=template, **extra)


def streaming_and_stored(
    users: set[int], cutoff: datetime
) -> tuple[Counter[int], Counter[int], Counter[int]]:
    """`streaming_answers` and `stored_bytes` in one query (one pass over the users'
    messages, which the stored bytes read anyway)."""
    live = Q(status=Message.Status.STREAMING, updated__gte=cutoff)
    rows = (
        Message.objects.filter(conversation__owner__in=users)
        .values_list("conversation__owner")
        .annotate(
            n=Count("pk", filter=live),
            held=Sum("reserved_tokens", filter=live),
            kept=Sum(OctetLength("content")),
        )
        .values_list("conversation__owner", "n", "held", "kept")
    )
    active: Counter[int] = Counter()
    reserved: Counter[int] = Counter()
    stored: Counter[int] = Counter()
    for owner, n, held, kept in rows:
        active[owner], reserved[owner], stored[owner] = n, held or 0, kept or 0
    return +active, reserved, stored


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
            format_lazy(
                _(
                    "You have {count} conversations, the most one may keep. "
                    "Delete some to start another."
                ),
                count=conversations,
            )
        )
    cap = settings.CHAT_MAX_STORED_BYTES_PER_USER
    if cap and stored >= cap:
        return StorageFull(
            format_lazy(
                _(
                    "Your conversations hold as much text as one may keep ({megabytes} MB). "
                    "Delete some to write more."
                ),
                megabytes=cap // 1_000_000,
            )
        )
    return None


def storage_check(*, user_id: int) -> None:
    """Before a new conversation: StorageFull when the user may keep no more."""
    if (refusal := storage_checks(user_ids=[user_id])[0]) is not None:
        raise refusal


def storage_checks(*, user_ids: list[int]) -> list[StorageFull | None]:
    """`storage_check` for each new conversation of a burst, in two reads for all (a
    user's second new conversation counts their first): the refusal, or None."""
    if not (settings.CHAT_MAX_CONVERSATIONS_PER_USER or settings.CHAT_MAX_STORED_BYTES_PER_USER):
        return [None] * len(user_ids)
    wanted = set(user_ids)
    counts = Counter(
        dict(
            Conversation.objects.filter(owner_id__in=wanted)
            .values_list("owner_id")
            .annotate(n=Count("pk"))
            .values_list("owner_id", "n")
        )
    )
    stored = stored_bytes(wanted) if settings.CHAT_MAX_STORED_BYTES_PER_USER else Counter()
    refusals: list[StorageFull | None] = []
    for user_id in user_ids:
        refusal = storage_refusal(stored=stored[user_id], conversations=counts[user_id])
        if refusal is None:
            counts[user_id] += 1
        refusals.append(refusal)
    return refusals


# --- How often: conversations, presets, searches --------------------------------------

ACTIONS = {
    "conversation": _("Too many new conversations in a minute. Wait a moment and try again."),
    "preset": _("Too many preset changes in a minute. Wait a moment and try again."),
    "search": _("Too many searches in a minute. Wait a moment and try again."),
    "share": _("Too many new share links in a minute. Wait a moment and try again."),
    "import": _("Too many imports in a minute. Wait a moment and try again."),
}


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
                ACTIONS[action],
                retry_after=max(1, math.ceil((oldest + WINDOW - now).total_seconds())),
            )
        done[action] = [*recent, now.isoformat()]
        quota.recent_actions = done
        quota.save(update_fields=["recent_actions"])
