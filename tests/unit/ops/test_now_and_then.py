"""The sweep's hourly jobs (retention, unsent files): run at the first sweep, then at
most every RETENTION_EVERY_SECONDS; off by their setting; a failure is tried again."""

from __future__ import annotations

import time

import pytest

from chat.ops import sweeper

# The jobs run on the database threads (db_call), which check the connection a thread
# holds before each call: one left open by an earlier test must not be refused.
pytestmark = [pytest.mark.asyncio, pytest.mark.django_db]


class Job:
    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def __call__(self) -> None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("the database is away")


@pytest.mark.parametrize(
    ("on", "ago", "runs"),
    [
        (True, None, True),  # the first sweep
        (True, sweeper.RETENTION_EVERY_SECONDS + 1, True),  # an hour on
        (True, 10.0, False),  # ran ten seconds ago
        (False, None, False),  # off by its setting
    ],
)
async def test_when_a_job_runs(on: bool, ago: float | None, runs: bool) -> None:
    job = Job()
    last = None if ago is None else time.monotonic() - ago
    ran = await sweeper._now_and_then(last, on, job, "a job")
    assert job.calls == (1 if runs else 0)
    assert (ran != last) is runs


async def test_a_failed_job_is_tried_again_at_the_next_sweep(caplog) -> None:
    job = Job(fail=True)
    assert await sweeper._now_and_then(None, True, job, "a job") is None
    assert "a job failed; trying again" in caplog.text
    job.fail = False
    assert await sweeper._now_and_then(None, True, job, "a job") is not None
    assert job.calls == 2
