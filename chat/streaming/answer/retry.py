"""Trying a call again: an answer's saves through a database outage, its `chat.end`
and its control channel through a channel-layer hiccup. One helper for all of them,
so each says only how long to keep at it."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Counter

logger = logging.getLogger(__name__)
T = TypeVar("T")


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    errors: Counter,
    seconds: float = math.inf,
    attempts: int | None = None,
    pause: float = 0.25,
    max_pause: float = 2.0,
    give_up_level: int = logging.ERROR,
    final: tuple[type[Exception], ...] = (),
) -> T:
    """`call()` again after each failure until it succeeds: `pause` seconds between
    tries, doubling up to `max_pause`, for at most `attempts` tries and while the next
    one would start within `seconds`; then its last exception is raised. Each failure
    counts in `errors` and is logged as `what`. An exception in `final` is raised at once."""
    deadline = time.monotonic() + seconds
    tries = 0
    while True:
        tries += 1
        try:
            return await call()
        except final:
            raise
        except Exception as exc:
            errors.inc()
            if tries == attempts or time.monotonic() + pause > deadline:
                logger.log(give_up_level, "%s failed, giving up: %r", what, exc)
                raise
            logger.warning("%s failed, trying again: %r", what, exc)
        await asyncio.sleep(pause)
        pause = min(2 * pause, max_pause)
