"""The delivery worker: a task on each server process's event loop that posts the
outbox's due rows to their receivers.

It claims the rows that head their subscription's queue (chat/webhooks/services.py:
one in flight per subscription, in order; `SKIP LOCKED`, so processes share the
work), posts each in a task of its own (a receiver that takes its whole timeout holds
only its own subscription), marks it delivered or failed (back-off, then a pause), and
claims again at once when a row is done or written here, else every
WEBHOOK_POLL_SECONDS (rows written by other processes, retries coming due). A claimed
row is held for a lease: the rows of a process that dies mid-delivery are due again
after it, so nothing is lost (a receiver may see such a row twice: X-Chat-Delivery
and (message_id, seq) name it).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

import httpx
from django.conf import settings

from chat.db import db_call
from chat.telemetry import metrics
from chat.transports.webhooks import sender
from chat.webhooks import schedule, services

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 100  # posts at once per process
PRUNE_EVERY_SECONDS = 3600.0  # rows delivered or given up are kept KEEP_DAYS
KEEP_DAYS = 7
MARK_TRIES = 5
MARK_RETRY_SECONDS = 0.2

_workers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Worker] = weakref.WeakKeyDictionary()


class Worker:
    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.in_flight: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] | None = None
        self.pruned_at: float | None = None

    async def run(self) -> None:
        timeout = settings.WEBHOOK_TIMEOUT_SECONDS
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            try:
                while True:
                    self.wake.clear()
                    await self._prune()
                    await self._claim(client)
                    try:
                        async with asyncio.timeout(max(settings.WEBHOOK_POLL_SECONDS, 0.05)):
                            await self.wake.wait()
                    except TimeoutError:
                        pass
            finally:
                for task in self.in_flight:
                    task.cancel()
                await asyncio.gather(*self.in_flight, return_exceptions=True)

    async def _prune(self) -> None:
        """At most every PRUNE_EVERY_SECONDS: the outbox keeps KEEP_DAYS of history."""
        now = time.monotonic()
        if self.pruned_at is not None and now - self.pruned_at < PRUNE_EVERY_SECONDS:
            return
        self.pruned_at = now
        try:
            await db_call(services.deliveries_prune)(days=KEEP_DAYS)
        except Exception:
            metrics.DATABASE_ERRORS.inc()
            logger.warning("pruning old webhook deliveries failed", exc_info=True)

    async def _claim(self, client: httpx.AsyncClient) -> None:
        room = MAX_IN_FLIGHT - len(self.in_flight)
        if room <= 0:
            return
        lease = schedule.lease_seconds(settings.WEBHOOK_TIMEOUT_SECONDS)
        try:
            claims = await db_call(services.deliveries_claim)(limit=room, lease=lease)
        except Exception:
            metrics.DATABASE_ERRORS.inc()
            logger.warning("claiming webhook deliveries failed; trying again", exc_info=True)
            return
        for claim in claims:
            task = asyncio.get_running_loop().create_task(
                self._deliver(client, claim), name=f"webhook-{claim.id}"
            )
            self.in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.wake.set()  # the subscription's next row may go now

    async def _deliver(self, client: httpx.AsyncClient, claim: services.Claim) -> None:
        outcome = await sender.post(client, claim)
        metrics.WEBHOOK_POSTS.labels("delivered" if outcome.ok else "failed").inc()
        for attempt in range(MARK_TRIES):  # else the lease runs out and the row goes again
            try:
                await self._mark(claim, outcome)
                return
            except Exception:
                metrics.DATABASE_ERRORS.inc()
                logger.warning("webhook delivery %d not marked", claim.id, exc_info=True)
                await asyncio.sleep(MARK_RETRY_SECONDS * (attempt + 1))

    async def _mark(self, claim: services.Claim, outcome: sender.Outcome) -> None:
        if outcome.ok:
            assert outcome.status is not None
            await db_call(services.delivery_succeeded)(claim=claim, response_status=outcome.status)
            return
        paused = await db_call(services.delivery_failed)(
            claim=claim,
            error=outcome.error,
            response_status=outcome.status,
            refused=outcome.refused,
        )
        logger.info("webhook delivery %d failed: %s", claim.id, outcome.error)
        if paused:
            logger.warning("webhook %d paused: %s", claim.subscription_id, outcome.error)


def ensure_delivering() -> Worker | None:
    """Start this event loop's delivery worker, once (WEBHOOK_DELIVERY off: none)."""
    if not settings.WEBHOOK_DELIVERY:
        return None
    loop = asyncio.get_running_loop()
    worker = _workers.get(loop)
    if worker is None or worker.task is None or worker.task.done():
        worker = _workers[loop] = Worker()
        worker.task = loop.create_task(worker.run(), name="webhook-worker")
    return worker


async def stop_delivering() -> None:
    """Stop this event loop's worker (its claimed rows go again after their lease)."""
    worker = _workers.pop(asyncio.get_running_loop(), None)
    if worker is not None and worker.task is not None:
        worker.task.cancel()
        await asyncio.gather(worker.task, return_exceptions=True)


class DeliveringApp:
    """Wraps the ASGI application: the first scope of any kind (Daphne sends no
    lifespan events) starts this process's worker, so rows left by a restart go out
    without waiting for a new answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        ensure_delivering()
        await self.app(scope, receive, send)
