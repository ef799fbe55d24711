"""Liveness and readiness, for load balancers and orchestrators.

`/healthz` says the process serves requests at all (restart it if not): it touches
neither the database nor Redis, so an outage of those never gets every replica
restarted at once. `/readyz` says the process can serve a chat now (send it traffic
if so): it is not draining after SIGTERM, the database answers `SELECT 1`, and the
channel layer carries a message to a new channel and back, with every Redis shard
answering a PING. Each check has READYZ_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from chat.streaming.answer import draining
from chat.streaming.delivery.layers import ShardDown, forget_channel, ping_shards
from chat.telemetry.logs import process_name

logger = logging.getLogger(__name__)

REASON_CHARS = 300  # an exception's text in a reason, at most

# Its own thread, not the chat's database threads: a probe stuck on a dead database
# holds this one thread, never one that answers need; the next probes queue behind
# it and time out (not ready), as they should.
_probe_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz-db")
_last_reason = ""  # logged when it changes, not at every probe


class NotReady(Exception):
    """A readiness check failed; its text is the reason /readyz gives."""


async def healthz(request: HttpRequest) -> JsonResponse:
    """GET /healthz: 200 while the process serves requests."""
    return JsonResponse({"status": "ok", "process": process_name()})


async def readyz(request: HttpRequest) -> JsonResponse:
    """GET /readyz: 200 ready, or 503 with the first reason it is not."""
    global _last_reason
    try:
        await check_ready(settings.READYZ_TIMEOUT_SECONDS)
    except NotReady as exc:
        reason = str(exc)
    else:
        reason = ""
    if reason != _last_reason:
        if reason:
            logger.warning("not ready: %s", reason)
        else:
            logger.info("ready again")
        _last_reason = reason
    if reason:
        body = {"status": "unavailable", "reason": reason, "process": process_name()}
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ready", "process": process_name()})


async def check_ready(timeout: float) -> None:
    """Raise NotReady with a readable reason unless this process can serve a chat."""
    if draining.draining():
        raise NotReady("draining")
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
