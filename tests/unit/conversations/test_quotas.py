"""The per-user rules of chat/quotas.py, on unsaved quota rows (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chat.conversations import quotas
from chat.errors import ErrorCode
from chat.models import UserQuota

NOON = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def limits(settings) -> None:
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 3
    settings.CHAT_MAX_ACTIVE_ANSWERS_PER_USER = 2
    settings.CHAT_DAILY_TOKEN_BUDGET = 1000


def test_sends_within_the_limit_are_counted_and_the_next_is_refused_until_the_oldest_ages() -> None:
    quota = UserQuota(user_id=1)
    for seconds in (0, 10, 20):
        assert quotas.admit(quota, active=0, now=NOON + timedelta(seconds=seconds)) is None
    refusal = quotas.admit(quota, active=0, now=NOON + timedelta(seconds=30))
    assert isinstance(refusal, quotas.RateLimited) and refusal.code == ErrorCode.RATE_LIMITED
    assert refusal.retry_after == 30  # the send at 0 s leaves the window at 60 s
    assert len(quota.recent_sends) == 3  # a refusal is not counted
    assert quotas.admit(quota, active=0, now=NOON + timedelta(seconds=60, milliseconds=1)) is None
    assert len(quota.recent_sends) == 3  # the oldest aged out, the new one counted


def test_too_many_answers_at_once_is_refused_with_a_hint() -> None:
    refusal = quotas.admit(UserQuota(user_id=1), active=2, now=NOON)
    assert isinstance(refusal, quotas.RateLimited)
    assert "2 answers" in refusal.message and refusal.retry_after == quotas.ACTIVE_RETRY_SECONDS
    assert quotas.admit(UserQuota(user_id=1), active=1, now=NOON) is None


def test_the_daily_budget_refuses_until_midnight_utc_and_renews_the_next_day() -> None:
    spent = UserQuota(user_id=1, day=NOON.date(), tokens_day=1000)
    refusal = quotas.admit(spent, active=0, now=NOON)
    assert isinstance(refusal, quotas.QuotaExceeded) and refusal.code == ErrorCode.QUOTA_EXCEEDED
    assert refusal.retry_after == 12 * 3600
    assert quotas.admit(spent, active=0, now=NOON + timedelta(hours=12)) is None
    assert (
        quotas.admit(UserQuota(user_id=1, day=NOON.date(), tokens_day=999), active=0, now=NOON)
        is None
    )


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "less than a minute"),
        (59.9, "less than a minute"),
        (60, "1 min"),
        (61, "2 min"),  # rounded up: never a time before the renewal
        (45 * 60, "45 min"),
        (3600, "1 h"),
        (3599, "1 h"),
        (3 * 3600 + 12 * 60, "3 h 12 min"),
        (3 * 3600 + 11 * 60 + 1, "3 h 12 min"),
        (24 * 3600, "24 h"),
    ],
)
def test_a_wait_is_said_in_hours_and_minutes_rounded_up(seconds: float, words: str) -> None:
    assert quotas.wait_words(seconds) == words


EST = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("now", "midnight"),
    [
        (NOON, datetime(2026, 11, 26, tzinfo=UTC)),
        (datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        # 21:00 in New York is 02:00 UTC the next day: the budget is UTC's.
        (datetime(2026, 11, 25, 21, 0, tzinfo=EST), datetime(2026, 11, 27, tzinfo=UTC)),
    ],
)
def test_the_budget_renews_at_the_next_midnight_utc(now: datetime, midnight: datetime) -> None:
    assert quotas.next_midnight(now) == midnight
    assert quotas.iso_utc(quotas.next_midnight(now)) == midnight.strftime("%Y-%m-%dT00:00:00Z")


YESTERDAY = NOON.date() - timedelta(days=1)


@pytest.mark.parametrize(
    ("day", "tokens", "budget", "held", "used", "remaining"),
    [
        (NOON.date(), 300, 1000, 0, 300, 700),
        (NOON.date(), 300, 1000, 2100, 300, 700),  # held is shown, not yet used
        (NOON.date(), 1200, 1000, 0, 1200, 0),  # past the budget (an answer's cap)
        (YESTERDAY, 900, 1000, 0, 0, 1000),  # yesterday's count is not today's
        (None, 0, 1000, 0, 0, 1000),  # a user who never spent a token
        (NOON.date(), 300, 0, 0, 300, None),  # no budget
    ],
)
def test_the_usage_of_today_counts_only_todays_tokens(
    settings, day, tokens: int, budget: int, held: int, used: int, remaining: int | None
) -> None:
    settings.CHAT_DAILY_TOKEN_BUDGET = budget
    quota = UserQuota(user_id=1, day=day, tokens_day=tokens)
    usage = quotas.usage_of(quota, now=NOON, held=held)
    assert (usage.used, usage.held, usage.remaining) == (used, held, remaining)
    assert usage.budget == (budget or None)
    assert usage.resets_at == datetime(2026, 11, 26, tzinfo=UTC)


def test_the_refusal_names_the_budget_and_when_it_renews(settings) -> None:
    settings.CHAT_DAILY_TOKEN_BUDGET = 50_000
    spent = UserQuota(user_id=1, day=NOON.date(), tokens_day=50_000)
    now = NOON + timedelta(hours=8, minutes=47, seconds=30)
    refusal = quotas.admit(spent, active=0, now=now)
    assert isinstance(refusal, quotas.QuotaExceeded)
    assert refusal.message == (
        "You have used today's budget of 50,000 tokens. It renews at 00:00 UTC (in 3 h 13 min)."
    )
    assert refusal.retry_after == 3 * 3600 + 12 * 60 + 30
    assert refusal.fields() == {
        "retry_after": 3 * 3600 + 12 * 60 + 30,
        "resets_at": "2026-11-26T00:00:00Z",
    }


def test_a_budget_of_zero_is_off(settings) -> None:
    settings.CHAT_DAILY_TOKEN_BUDGET = 0
    assert (
        quotas.admit(UserQuota(user_id=1, day=NOON.date(), tokens_day=10**9), active=0, now=NOON)
        is None
    )


def test_tokens_are_estimated_from_characters_when_the_provider_reports_none(settings) -> None:
    settings.LLM_SYSTEM_PROMPT = "x" * 8
    assert quotas.estimate_tokens([("user", "y" * 20)], "z" * 12) == 10
    assert quotas.estimate_tokens([], "a") == 3  # ceil(9 / 4)
    # The system prompt the model was really sent (the conversation's instructions too).
    assert quotas.estimate_tokens([], "a", system="s" * 4000) == 1001


@pytest.mark.parametrize(
    ("used", "reserved", "estimate", "refused"),
    [
        (0, 0, 5000, False),  # alone, an answer starts while budget is left (its cap bounds it)
        (0, 600, 400, False),  # both fit: 600 + 400 <= 1000
        (0, 600, 401, True),  # both could run past the budget: the second waits
        (500, 300, 201, True),  # what was used counts with what is held
        (999, 0, 5000, False),  # nothing held: one more may start
    ],
)
def test_answers_at_once_must_fit_in_the_budget_together(
    used: int, reserved: int, estimate: int, refused: bool
) -> None:
    quota = UserQuota(user_id=1, day=NOON.date(), tokens_day=used)
    refusal = quotas.admit(quota, active=0, now=NOON, reserved=reserved, estimate=estimate)
    assert (refusal is not None) == refused
    if refusal is not None:
        assert refusal.code == ErrorCode.QUOTA_EXCEEDED
        assert refusal.retry_after == quotas.ACTIVE_RETRY_SECONDS


def test_a_reservation_is_the_context_at_four_characters_a_token_and_the_answer_cap(
    settings,
) -> None:
    settings.LLM_MAX_TOKENS = 2048
    assert quotas.reservation(4001) == 1001 + 2048


@pytest.mark.parametrize(
    ("stored", "conversations", "refused"),
    [(99, 4, False), (100, None, True), (0, 5, True), (0, None, False)],
)
def test_storage_is_refused_at_its_caps(
    settings, stored: int, conversations: int | None, refused: bool
) -> None:
    settings.CHAT_MAX_STORED_BYTES_PER_USER = 100
    settings.CHAT_MAX_CONVERSATIONS_PER_USER = 5
    refusal = quotas.storage_refusal(stored=stored, conversations=conversations)
    assert (refusal is not None) == refused
    assert refusal is None or refusal.code == ErrorCode.STORAGE_FULL
