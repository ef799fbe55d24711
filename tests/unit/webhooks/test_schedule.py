"""The back-off of failed deliveries and when a subscription is paused."""

from __future__ import annotations

import pytest

from chat.webhooks import schedule


@pytest.mark.parametrize(
    ("attempts", "base", "delay"),
    [(0, 5, 0), (1, 5, 5), (2, 5, 10), (3, 5, 20), (6, 5, 160), (11, 5, 3600), (500, 5, 3600)],
)
def test_the_delay_doubles_up_to_an_hour(attempts: int, base: float, delay: float) -> None:
    assert schedule.retry_delay(attempts, base) == delay


@pytest.mark.parametrize(
    ("failures", "limit", "paused"),
    [(0, 10, False), (9, 10, False), (10, 10, True), (11, 10, True), (1000, 0, False)],
)
def test_a_subscription_is_paused_after_failures_in_a_row(
    failures: int, limit: int, paused: bool
) -> None:
    assert schedule.should_pause(failures, limit) is paused


def test_a_row_is_given_up_after_max_attempts() -> None:
    assert not schedule.give_up(schedule.MAX_ATTEMPTS - 1)
    assert schedule.give_up(schedule.MAX_ATTEMPTS)


def test_a_lease_outlasts_the_post() -> None:
    assert schedule.lease_seconds(10) > 10
