"""The channel layers of chat/layers.py against a real Redis: the pipelined pub/sub
layer, and the core layer sharded over several servers."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels_redis.core import RedisChannelLayer

from chat.streaming.delivery.layers import (
    ChannelGone,
    PipelinedPubSubChannelLayer,
    ShardedRedisChannelLayer,
    forget_channel,
    join_new_channel,
    receive_here,
)
from chatsite.settings import redis_channel_layer
from tests.support.redis_server import throwaway_redis


@pytest.fixture
def layer(redis_url: str) -> PipelinedPubSubChannelLayer:
    """The default `pubsub` layer on the real Redis (each test flushes it at the end)."""
    config = redis_channel_layer(redis_url, "pubsub")
    config["CONFIG"]["prefix"] = f"test-{uuid.uuid4().hex[:8]}"
    assert (
        config["BACKEND"] == "chat.streaming.delivery.layers.PipelinedPubSubChannelLayer"
    )  # the default
    return PipelinedPubSubChannelLayer(**config["CONFIG"])


async def test_concurrent_publishes_share_round_trips_and_keep_each_senders_order(
    layer: PipelinedPubSubChannelLayer,
) -> None:
    """Five senders publish 40 messages each at once: every message arrives, each
    sender's in order, in far fewer round trips to Redis than messages."""
    channels = [await layer.new_channel() for _ in range(5)]
    for index, channel in enumerate(channels):
        await layer.group_add(f"pipe-{index}", channel)
    shard = layer._get_layer()._shards[0]
    before = shard.round_trips

    async def sender(index: int) -> None:
        for n in range(40):
            await layer.group_send(f"pipe-{index}", {"type": "t", "n": n})

    try:
        await asyncio.gather(*(sender(i) for i in range(5)))
        for channel in channels:
            got = [(await layer.receive(channel))["n"] for _ in range(40)]
            assert got == list(range(40))
        assert shard.round_trips - before < 5 * 40 / 2
    finally:
        await layer.flush()


async def test_a_failed_pipeline_fails_each_of_its_publishes(
    layer: PipelinedPubSubChannelLayer, monkeypatch
) -> None:
    shard = layer._get_layer()._shards[0]

    def unreachable() -> None:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(shard, "_ensure_redis", unreachable)
    try:
        results = await asyncio.gather(
            *(layer.group_send("down", {"type": "t"}) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, ConnectionError) for r in results)
        monkeypatch.undo()
        await layer.group_send("down", {"type": "t"})  # and the next one goes through
    finally:
        await layer.flush()


async def test_a_group_send_right_behind_a_join_reaches_the_new_channel(redis_url: str) -> None:
    """`join_new_channel` puts the group's SUBSCRIBE on the wire in its first step, so
    a send queued right behind it (a `stop` right behind the message that started an
    answer) is not lost, even when the socket timeouts make each SUBSCRIBE yield: the
    send waits until Redis has confirmed the SUBSCRIBE, which went out on another
    connection and could otherwise be read after the PUBLISH."""
    config = redis_channel_layer(redis_url, "pubsub")["CONFIG"]
    config["hosts"] = [{"address": redis_url, "socket_timeout": 5, "socket_connect_timeout": 3}]
    layer = PipelinedPubSubChannelLayer(**{**config, "prefix": f"test-{uuid.uuid4().hex[:8]}"})
    try:
        await layer.group_send("warm", {"type": "t"})  # connections made
        for n in range(20):
            join = asyncio.get_running_loop().create_task(join_new_channel(layer, f"g{n}"))
            await asyncio.sleep(0)  # the join's first step, nothing more
            await layer.group_send(f"g{n}", {"type": "t", "n": n})
            channel = await join
            async with asyncio.timeout(2):
                assert (await layer.receive(channel))["n"] == n
    finally:
        await layer.flush()


async def test_a_receive_here_ends_at_once_when_cancelled_and_never_outlives_its_channel(
    layer: PipelinedPubSubChannelLayer,
) -> None:
    """An answer's control listener reads with `receive_here`. Cancelled while the
    shard's lock is held (a publish under way), it ends at once, where channels_redis'
    `receive()` waited for the lock to unsubscribe; and once its channel is forgotten
    a receive raises ChannelGone, where `receive()` subscribed it again and waited for
    good."""
    try:
        channel = await join_new_channel(layer, "ctl")
        await layer.group_send("ctl", {"type": "gen.sync", "n": 1})
        async with asyncio.timeout(2):
            assert (await receive_here(layer, channel))["n"] == 1
        shard = layer._get_layer()._shards[0]
        waiting = asyncio.get_running_loop().create_task(receive_here(layer, channel))
        await asyncio.sleep(0)  # it waits on the channel's queue
        async with shard._lock:  # as a publish holds it
            waiting.cancel()
            done, _ = await asyncio.wait({waiting}, timeout=2)
            assert done == {waiting} and waiting.cancelled()
        await forget_channel(layer, channel)
        with pytest.raises(ChannelGone):
            await receive_here(layer, channel)
        assert channel not in layer._get_layer().channels  # not subscribed again
    finally:
        await layer.flush()


async def test_the_core_layer_over_two_servers_delivers_every_direct_send(redis_url: str) -> None:
    """Sharded over two Redis servers, a message sent to a new channel of this process
    is received: channels_redis' own send and receive pick different servers for most
    such channels (django/channels#1492), this layer the same one."""
    config = redis_channel_layer(redis_url, "core")
    assert config["BACKEND"] == "chat.streaming.delivery.layers.ShardedRedisChannelLayer"
    with throwaway_redis() as second:
        config["CONFIG"].update(hosts=[redis_url, second], prefix=f"test-{uuid.uuid4().hex[:8]}")
        layer = ShardedRedisChannelLayer(**config["CONFIG"])
        upstream = RedisChannelLayer(hosts=[redis_url, second])
        try:
            channels = [await layer.new_channel() for _ in range(30)]
            split = [c for c in channels if upstream.consistent_hash(c) != layer.consistent_hash(c)]
            assert split, "channels_redis' send would pick another server for some of them"
            for n, channel in enumerate(channels):
                await layer.send(channel, {"type": "t", "n": n})
                async with asyncio.timeout(2):
                    assert (await layer.receive(channel))["n"] == n
        finally:
            await layer.flush()
            await layer.close_pools()
