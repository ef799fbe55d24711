"""`retrying`: how often and how long an answer's calls are tried again, on a fake clock."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace
from typing import Any

import pytest

from chat.streaming.answer import retry


class Clock:
    """Stands in for `time` and `asyncio` in retry.py: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


class Errors:
    def __init__(self) -> None:
        self.count = 0

    def inc(self) -> None:
        self.count += 1


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(retry, "time", clock)
    monkeypatch.setattr(retry, "asyncio", SimpleNamespace(sleep=clock.sleep))
    return clock


def failing(times: float) -> Any:
    """A call that raises its first `times` times, then returns "done"."""
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        if calls <= times:
            raise ConnectionError("down")
        return "done"

    return call


@pytest.mark.parametrize(
    ("limits", "failures", "pauses"),
    [
        # The final save: 0.25 s, doubling up to 2 s, while the next try starts in time.
        ({"seconds": 5.0}, math.inf, [0.25, 0.5, 1.0, 2.0]),
        ({"seconds": 5.0}, 2, [0.25, 0.5]),
        # `chat.end`: three tries, 0.2 s then 0.4 s apart.
        ({"attempts": 3, "pause": 0.2}, math.inf, [0.2, 0.4]),
        ({"attempts": 1}, math.inf, []),
        # The control channel: every 0.5 s for as long as it takes.
        ({"pause": 0.5, "max_pause": 0.5}, 6, [0.5] * 6),
    ],
)
async def test_pauses_between_tries_and_when_it_gives_up(
    clock: Clock, limits: dict[str, float], failures: float, pauses: list[float]
) -> None:
    errors = Errors()
    call = retry.retrying(failing(failures), what="the call", errors=errors, **limits)
    if failures == math.inf:
        with pytest.raises(ConnectionError):
            await call
        assert errors.count == len(pauses) + 1
    else:
        assert await call == "done"
        assert errors.count == failures
    assert clock.pauses == pauses


async def test_each_failure_is_logged_and_the_last_at_the_given_level(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures before the last say it will be tried again; the last, that it gave up."""
    with pytest.raises(ConnectionError):
        await retry.retrying(
            failing(math.inf),
            what="chat.end",
            errors=Errors(),
            attempts=2,
            give_up_level=logging.WARNING,
        )
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "chat.end failed, trying again: ConnectionError('down')"),
        (logging.WARNING, "chat.end failed, giving up: ConnectionError('down')"),
    ]


async def test_a_final_exception_is_raised_at_once(clock: Clock) -> None:
    """The control channel gone (the answer left it): no try again, no pause."""
    errors = Errors()
    with pytest.raises(ConnectionError):
        await retry.retrying(
            failing(math.inf), what="the call", errors=errors, final=(ConnectionError,)
        )
    assert (errors.count, clock.pauses) == (0, [])
