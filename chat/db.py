"""Database calls from async code, run on a small pool of threads.

`database_sync_to_async` on its own runs every call on the one thread that all
thread-sensitive calls of the process share: under load, one answer's save waits
behind everyone else's, and so does anything else queued on that thread. The calls
here are self-contained (each opens and ends its own transaction and returns its
connection to the pool afterwards), so they can run side by side on
`DATABASE_THREADS` threads instead; `DATABASE_POOL_SIZE` connections are pooled.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def executor() -> ThreadPoolExecutor:
    """The process's database threads, made on first use (never at import)."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=max(1, settings.DATABASE_THREADS), thread_name_prefix="db"
            )
        return _executor


def db_call(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`func` as a coroutine function run on the database threads; closes old
    connections before and after, as `database_sync_to_async` does."""
    return database_sync_to_async(func, thread_sensitive=False, executor=executor())


def close_connections() -> None:
    """Give back the connection each database thread holds (shutdown, end of tests)."""
    from django.db import connections

    with _lock:
        pool = _executor
    if pool is None:
        return
    workers = pool._max_workers
    meeting = threading.Barrier(workers)

    def close() -> None:
        connections.close_all()
        meeting.wait(timeout=5)  # each call on its own thread: all of them are reached

    for future in [pool.submit(close) for _ in range(workers)]:
        future.result(timeout=10)
