"""The per-user rules of chat/quotas.py, on unsaved quota rows (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
