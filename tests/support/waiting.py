"""Waiting for a state instead of sleeping and assuming it."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def wait_for(
    condition: Callable[[], T | Awaitable[T]],
    timeout: float = 5.0,
    *,
    what: str | None = None,
    interval: float = 0.01,
) -> T:
    """Poll `condition` (a function, or a coroutine function) until it returns a true
    value, and return that value; AssertionError naming `what` once `timeout` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result: Any = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() >= deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what or condition.__name__}"
            )
        await asyncio.sleep(interval)


def wait_for_sync(
    condition: Callable[[], T],
    timeout: float = 5.0,
    *,
    what: str | None = None,
    interval: float = 0.05,
) -> T:
    """`wait_for` for code without an event loop (tests driving real processes)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what or condition.__name__}"
            )
        time.sleep(interval)
