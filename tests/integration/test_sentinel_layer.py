"""The channel layers on Redis Sentinel (REDIS_SENTINELS): a primary, a replica and
three sentinels of the test's own. A member of a group, in one layer, must hear the
group again through the promoted replica once the primary is lost, whether it died
(its connections reset) or stalled (its connections open and silent, as when its host
drops off the network)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import BaseChannelLayer
from django.utils.module_loading import import_string
from redis.exceptions import RedisError

from chat.streaming.delivery.layers import join_new_channel
from chatsite.settings import redis_channel_layer
from tests.support.redis_sentinel import MASTER_NAME, SentinelDeployment, sentinel_deployment

SOCKET_TIMEOUT = 6.0  # more than the core layer's 5 s blocking receive, as it must be


@pytest.fixture
def sentinels() -> Iterator[SentinelDeployment]:
    with sentinel_deployment() as deployment:
        yield deployment


def sentinel_layer(sentinels: SentinelDeployment, backend: str) -> BaseChannelLayer:
    """A layer as a server process builds it from REDIS_SENTINELS (one per process)."""
    config = redis_channel_layer(
        "",
        backend,
        connect_timeout=1.0,
        socket_timeout=SOCKET_TIMEOUT,
        sentinels=sentinels.sentinels,
        sentinel_master=MASTER_NAME,
    )
    return import_string(config["BACKEND"])(**config["CONFIG"])


async def listen(layer: BaseChannelLayer, channel: str, heard: asyncio.Queue[Any]) -> None:
    """Receive on `channel` for good (a cancelled receive would leave the group)."""
    while True:
        heard.put_nowait(await layer.receive(channel))


async def heard_again(sender: BaseChannelLayer, group: str, heard: asyncio.Queue[Any]) -> int:
    """Send to `group` until the listener hears one of the sends: that send's number."""
    sent = 0
    while True:
        sent += 1
        with contextlib.suppress(RedisError):  # no primary yet, or the old one stalled
            await sender.group_send(group, {"type": "probe", "n": sent})
        try:
            return (await asyncio.wait_for(heard.get(), 0.2))["n"]
        except TimeoutError:
            continue


@pytest.mark.parametrize("fault", ["killed", "stalled"])
@pytest.mark.parametrize("backend", ["pubsub", "core"])
async def test_a_group_member_hears_the_group_again_through_the_promoted_replica(
    sentinels: SentinelDeployment, backend: str, fault: str
) -> None:
    listener, sender = sentinel_layer(sentinels, backend), sentinel_layer(sentinels, backend)
    group = f"sentinel-{backend}-{fault}"
    channel = await join_new_channel(listener, group)
    heard: asyncio.Queue[Any] = asyncio.Queue()
    listening = asyncio.create_task(listen(listener, channel, heard))
    try:
        await sender.group_send(group, {"type": "probe", "n": 0})
        assert (await asyncio.wait_for(heard.get(), 5))["n"] == 0
        sentinels.primary.kill() if fault == "killed" else sentinels.primary.pause()
        lost = time.monotonic()
        await asyncio.wait_for(heard_again(sender, group, heard), 40)
        print(f"{backend}, primary {fault}: heard again {time.monotonic() - lost:.1f} s after")
        assert sentinels.primary_port() == sentinels.replica.port
    finally:
        listening.cancel()
        for layer in (listener, sender):
            await layer.flush()
            if hasattr(layer, "close_pools"):  # the core layer's
                await layer.close_pools()
