"""Answers left `streaming` by a dead process end as `error` (interrupted), text kept,
within a bounded time even when nobody opens their conversation.

Every server process sweeps the whole table every CHAT_SWEEP_SECONDS from start-up:
`SweepingApp`, the outermost ASGI application (chatsite.asgi), starts the sweep at a
lifespan start-up, and, since Daphne sends no lifespan events, at the process's first
connection of any kind (an HTTP request, a probe, a socket). An open tab's watchdog
also sweeps the answer it waits for (subscription.saved_message), so a tab on another
process sees the end of an answer whose process died. An answer is stale once it has
not been saved for CHAT_STALE_STREAM_SECONDS by the database's clock (a live one is
saved every fifth of that: chat/conversations/liveness.py). Each sweep also measures
this process's clock against the database's (the `chat_clock_skew_seconds` gauge).
Each sweep deletes the temporary chats past their time. With CHAT_RETENTION_DAYS set,
the same loop deletes the conversations older than that, and the attached files never
sent after ATTACHMENT_UNSENT_HOURS, each at most every RETENTION_EVERY_SECONDS per
process.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings

from chat.conversations import attachments, liveness, services
from chat.db import db_call
from chat.telemetry import metrics

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable

    from chat.accounts.bearer import Application

logger = logging.getLogger(__name__)

RETENTION_EVERY_SECONDS = 3600.0

_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)


def ensure_sweeping() -> None:
    """Start this event loop's periodic sweep, once (CHAT_SWEEP_SECONDS 0: never)."""
    if settings.CHAT_SWEEP_SECONDS <= 0:
        return
    loop = asyncio.get_running_loop()
    task = _sweepers.get(loop)
    if task is None or task.done():
        _sweepers[loop] = loop.create_task(_sweep_forever(), name="stale-sweeper")


async def _sweep_forever() -> None:
    retained_at: float | None = None
    unsent_at: float | None = None
    while True:
        try:
            swept, skew = await db_call(_sweep_and_measure)()
            metrics.CLOCK_SKEW.set(skew)
            if swept:
                logger.warning("marked %d answers of dead processes as interrupted", swept)
        except Exception:
            logger.warning("the sweep of stale answers failed; trying again", exc_info=True)
        retained_at = await _retain(retained_at)
        unsent_at = await _sweep_unsent(unsent_at)
        await asyncio.sleep(max(settings.CHAT_SWEEP_SECONDS, 0.1))


def _sweep_and_measure() -> tuple[int, float]:
    """One sweep, and the clock skew seen on the way: (answers swept, seconds). The
    temporary chats past their time go too (an indexed query: nothing, mostly)."""
    services.conversations_delete_expired()
    return services.messages_sweep_stale_all(), liveness.clock_skew_measure()


async def _retain(last: float | None) -> float | None:
    """Delete the conversations past CHAT_RETENTION_DAYS (returns when it last ran)."""
    days = settings.CHAT_RETENTION_DAYS
    job = functools.partial(services.conversations_delete_old, days=days)
    return await _now_and_then(last, days > 0, job, "the retention sweep")


async def _sweep_unsent(last: float | None) -> float | None:
    """Delete the files never sent with a message after ATTACHMENT_UNSENT_HOURS."""
    hours = settings.ATTACHMENT_UNSENT_HOURS
    job = functools.partial(attachments.attachments_delete_unsent_old, hours=hours)
    return await _now_and_then(last, hours > 0, job, "the sweep of unsent files")


async def _now_and_then(
    last: float | None, on: bool, job: Callable[[], object], what: str
) -> float | None:
    """Run `job` on the database threads if `on` and the last run (at `last`,
    monotonic) is RETENTION_EVERY_SECONDS old; returns when it last ran (a failure
    is logged and tried again at the next sweep)."""
    if not on or (last is not None and time.monotonic() - last < RETENTION_EVERY_SECONDS):
        return last
    try:
        await db_call(job)()
    except Exception:
        logger.warning("%s failed; trying again", what, exc_info=True)
        return last
    return time.monotonic()


class SweepingApp:
    """Wraps the ASGI application: every scope it is called with (lifespan, HTTP,
    WebSocket) first makes sure its event loop sweeps, so a process that only serves
    HTTP sweeps too; a lifespan scope is answered here (the router has none)."""

    def __init__(self, app: Application) -> None:
        self.app = app

    async def __call__(
        self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        ensure_sweeping()
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        else:
            await self.app(scope, receive, send)


async def _lifespan(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Called when a server that speaks the lifespan protocol starts; the sweep has
    started already, so start-up and shutdown are simply acknowledged."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
