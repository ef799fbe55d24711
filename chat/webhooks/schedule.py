"""When a failed delivery is tried again, and when a subscription is paused."""

from __future__ import annotations

MAX_DELAY_SECONDS = 3600.0  # back-off stops growing here (an hour)
LEASE_SECONDS = 5.0  # beyond the POST's timeout: a claimed row is due again after it


def retry_delay(attempts: int, base: float) -> float:
    """Seconds before the next try of a row that failed `attempts` times (1, 2, …):
    `base`, then doubling, at most MAX_DELAY_SECONDS."""
    if attempts < 1:
        return 0.0
    return min(base * 2.0 ** min(attempts - 1, 30), MAX_DELAY_SECONDS)


def should_pause(consecutive_failures: int, limit: int) -> bool:
    """A subscription whose deliveries failed `limit` times in a row is paused (its
    rows wait, pending, until its owner resumes it). `limit` 0: never."""
    return limit > 0 and consecutive_failures >= limit


def lease_seconds(timeout: float) -> float:
    """How long a claimed row is held by the process that posts it."""
    return timeout + LEASE_SECONDS


MAX_ATTEMPTS = 20  # a row tried this often is given up (`failed`) and the next one goes


def give_up(attempts: int) -> bool:
    return attempts >= MAX_ATTEMPTS
