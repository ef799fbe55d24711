"""Liveness and readiness, for load balancers and orchestrators.

`/healthz` says the process serves requests at all (restart it if not): it touches
neither the database nor Redis, so an outage of those never gets every replica
restarted at once. `/readyz` says the process can serve a chat now (send it traffic
if so): it is not draining after SIGTERM, the database answers `SELECT 1`, and the
channel layer carries a message to a new channel and back, with every Redis shard
answering a PING. Each check has READYZ_TIMEOUT_SECONDS.

Both answer with a status only: why a process is not ready names hosts and the
database user, so it goes to the log (when it changes), never to the caller. The
checks' result is shared: callers at the same moment wait for one run of the checks,
and its result answers for READYZ_CACHE_SECONDS, so a flood of /readyz costs one
query and a few Redis round trips a second, not one per request (issue #21).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from chat.streaming.answer import draining
from chat.streaming.delivery.layers import ShardDown, forget_channel, ping_shards

logger = logging.getLogger(__name__)

REASON_CHARS = 300  # an exception's text in a reason, at most

# Its own thread, not the chat's database threads: a probe stuck on a dead database
# holds this one thread, never one that answers need; the next probes queue behind
# it and time out (not ready), as they should.
_probe_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz-db")


class NotReady(Exception):
    """A readiness check failed; its text is the reason logged."""


class SharedCheck:
    """One run of an async check for every caller that asks while it runs, and its
    result for `ttl` seconds after."""

    def __init__(self, check: Callable[[], Awaitable[str]]) -> None:
        self.check = check
        self.running: asyncio.Task[str] | None = None
        self.checked_at = -float("inf")
        self.reason = ""

    async def result(self, ttl: float) -> str:
        """The check's result, at most `ttl` seconds old."""
        if time.monotonic() - self.checked_at < ttl:
            return self.reason
        task = self.running
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = self.running = asyncio.ensure_future(self._run())
        # Shielded: a caller that gives up (its client went away) leaves the run to
        # the others.
        return await asyncio.shield(task)

    async def _run(self) -> str:
        try:
            self.reason = await self.check()
        finally:
            self.running = None
        self.checked_at = time.monotonic()
        return self.reason


async def _not_ready_reason() -> str:
    try:
        await check_ready(settings.READYZ_TIMEOUT_SECONDS)
    except NotReady as exc:
        return str(exc)
    return ""


readiness = SharedCheck(_not_ready_reason)
_last_reason = ""  # logged when it changes, not at every probe


async def healthz(request: HttpRequest) -> JsonResponse:
    """GET /healthz: 200 while the process serves requests."""
    return JsonResponse({"status": "ok"})


async def readyz(request: HttpRequest) -> JsonResponse:
    """GET /readyz: 200 ready, or 503; why not is logged, never sent."""
    global _last_reason
    if draining.draining():  # this process's own flag: seen at once, never cached
        reason = "draining"
    else:
        reason = await readiness.result(settings.READYZ_CACHE_SECONDS)
    if reason != _last_reason:
        if reason:
            logger.warning("not ready: %s", reason)
        else:
            logger.info("ready again")
        _last_reason = reason
    if reason:
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ready"})


async def check_ready(timeout: float) -> None:
    """Raise NotReady with a readable reason unless this process can serve a chat."""
    await _checked("database", check_database(), timeout)
    await _checked("channel layer", check_channel_layer(), timeout)
    # Bounded per shard; a shard that does not answer is named.
    await _checked("channel layer", ping_shards(get_channel_layer(), timeout), None)


async def _checked(what: str, check: Awaitable[object], timeout: float | None) -> None:
    try:
        async with asyncio.timeout(timeout):
            await check
    except TimeoutError:
        raise NotReady(f"{what}: no answer within {timeout:g} s") from None
    except (NotReady, ShardDown) as exc:
        raise NotReady(f"{what}: {exc}") from exc
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        raise NotReady(f"{what}: {text[:REASON_CHARS]}") from exc


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def check_database() -> None:
    await database_sync_to_async(_select_one, thread_sensitive=False, executor=_probe_thread)()


async def check_channel_layer() -> None:
    """A message to a new channel of the default layer and back. It reaches only the
    Redis shard its channel hashes to: check_ready PINGs every shard next."""
    layer = get_channel_layer()
    if layer is None:
        raise NotReady("no channel layer is configured")
    token = uuid.uuid4().hex
    channel = await layer.new_channel()
    try:
        await layer.send(channel, {"type": "readyz.ping", "token": token})
        received = await layer.receive(channel)
        if received.get("token") != token:
            raise NotReady("a message came back altered")
    finally:
        await forget_channel(layer, channel)
