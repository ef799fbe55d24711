"""Whether a streaming answer's process is alive, judged by one clock: the database's.

The process running an answer writes its `updated` with the database's clock (the
column's default, `Now()`, when the answer is created; `Now()` at every progress
save, at least every `heartbeat_seconds`), and every judgement of it compares with
the database's clock too (`stale_before()` in SQL, or `chat.db.database_now()` read
once for a batch). No server's own clock enters: a server whose clock is off, by any
amount, neither ends another's live answer nor lets a user past the cap on answers
at once (issue #21). What remains is real silence: a process that wrote nothing for
CHAT_STALE_STREAM_SECONDS (dead, or stalled that long) has its answers ended
`interrupted`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Expression
from django.db.models.functions import Now
from django.utils import timezone

from chat import db

# Heartbeats a live answer writes per staleness window, at least: one late or lost
# write (a slow tick, a busy database) is not taken for a death.
HEARTBEATS_PER_WINDOW = 5


def stale_after() -> timedelta:
    """How long an answer may go unsaved before its process counts as dead."""
    return timedelta(seconds=settings.CHAT_STALE_STREAM_SECONDS)


def stale_before() -> Expression:
    """SQL for "the database's clock, less the staleness window": a streaming answer
    last saved before it is stale."""
    return Now() - stale_after()


def is_stale(*, updated: datetime, now: datetime, window: timedelta) -> bool:
    """Was an answer last saved at `updated` (database clock) stale at `now` (the
    same clock)?"""
    return updated < now - window


def heartbeat_seconds(stale_seconds: float) -> float:
    """How often a live answer that did not grow is saved anyway."""
    return stale_seconds / HEARTBEATS_PER_WINDOW


def clock_skew(*, before: datetime, database: datetime, after: datetime) -> float:
    """This process's clock minus the database's, in seconds: `database` was read
    between `before` and `after` (this clock), so it is set against their midpoint."""
    midpoint = before + (after - before) / 2
    return (midpoint - database).total_seconds()


def clock_skew_measure() -> float:
    """`clock_skew` now: one round trip to the database."""
    before = timezone.now()
    database = db.database_now()
    return clock_skew(before=before, database=database, after=timezone.now())
