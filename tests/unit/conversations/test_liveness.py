"""The pure rules of liveness.py: when an answer is stale, how often a live one is
saved, and how a process's clock skew is computed from one read of the database's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chat.conversations.liveness import clock_skew, heartbeat_seconds, is_stale

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=10)


@pytest.mark.parametrize(
    ("saved_ago", "stale"),
    [
        (0.0, False),  # just saved
        (2.0, False),  # a heartbeat ago
        (9.999, False),  # silent almost the whole window: still alive
        (10.0, False),  # the edge belongs to the living
        (10.001, True),  # past the window: its process is dead
        (300.0, True),
        (-26.0, False),  # "saved in the future" cannot be stale
    ],
)
def test_an_answer_is_stale_only_past_the_window(saved_ago: float, stale: bool) -> None:
    updated = T0 - timedelta(seconds=saved_ago)
    assert is_stale(updated=updated, now=T0, window=WINDOW) is stale


@pytest.mark.parametrize(
    ("stale_seconds", "heartbeat"),
    [(10.0, 2.0), (30.0, 6.0), (3.0, 0.6), (60.0, 12.0)],
)
def test_a_live_answer_is_saved_five_times_per_window(
    stale_seconds: float, heartbeat: float
) -> None:
    assert heartbeat_seconds(stale_seconds) == pytest.approx(heartbeat)


@pytest.mark.parametrize(
    ("before", "database", "after", "skew"),
    [
        (0.0, 0.0, 0.0, 0.0),  # one clock
        (26.0, 0.0, 26.0, 26.0),  # this clock 26 s ahead
        (-26.0, 0.0, -26.0, -26.0),  # 26 s behind
        (0.0, 0.5, 1.0, 0.0),  # read mid-way through a 1 s round trip
        (26.0, 0.1, 26.4, 26.1),  # ahead, set against the round trip's midpoint
    ],
)
def test_clock_skew_is_this_clock_minus_the_databases(
    before: float, database: float, after: float, skew: float
) -> None:
    def at(seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    measured = clock_skew(before=at(before), database=at(database), after=at(after))
    assert measured == pytest.approx(skew)
