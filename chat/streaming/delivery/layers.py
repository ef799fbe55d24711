"""channels_redis' pub/sub layer, with every PUBLISH of a moment sent in one pipeline.

`RedisSingleShardConnection.publish` holds the shard's lock for a whole round trip
to Redis, so all the group sends of a process queue behind each other, one round
trip and one wake-up of the event loop each: with a hundred answers streaming, a
delta waited seconds for its turn while the process had CPU to spare. Here a publish
that finds one in flight joins the next batch, and each batch is one pipelined round
trip. Order is kept: a sender awaits its publish before its next one, and a batch
goes out in the order its publishes arrived. Everything else is channels_redis'.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import BaseChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close, decode_hosts
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.sentinel import MasterNotFoundError, SentinelConnectionPool
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from channels_redis.utils import Hosts
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)


def channel_layer(alias: str = DEFAULT_CHANNEL_LAYER) -> BaseChannelLayer:
    """A channel layer, the default one unless `alias` says (the settings configure it)."""
    layer = get_channel_layer(alias)
    if layer is None:
        raise ImproperlyConfigured(f"CHANNEL_LAYERS has no layer {alias!r}")
    return layer


class PipelinedShardConnection(RedisSingleShardConnection):
    QUIET_SECONDS = 1.0  # a subscription connection quiet this long is PINGed

    def __init__(self, host: dict[str, Any], channel_layer: RedisPubSubLoopLayer) -> None:
        super().__init__(host, channel_layer)
        self._outbox: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._sender: asyncio.Task[None] | None = None
        self._confirming: dict[str, asyncio.Future[None]] = {}
        self._woken = asyncio.Event()  # a subscription: the idle reader reads at once
        self.round_trips = 0  # pipelines sent, for tests and benchmarks
        self._heard = 0.0  # when the subscriptions' Redis last said anything (loop time)
        self._pinged: float | None = None  # when it was sent a PING still unanswered
        self._asked = 0.0  # when the sentinels were last asked for the primary

    async def subscribe_confirmed(self, channel: str) -> None:
        """`subscribe()`, with publishes to `channel` from this process held back until
        Redis confirms the subscription.

        channels_redis lets go of the shard once SUBSCRIBE is written; a PUBLISH written
        right after it on the shard's other connection could be read by Redis first and
        reach nobody. The confirmation is awaited by those publishes only (within the
        shard's read timeout), not by this call: answers starting at once do not queue
        behind each other's round trips."""
        if channel in self._subscribed_to:
            return
        loop = asyncio.get_running_loop()
        confirmed = self._confirming[channel] = loop.create_future()
        loop.call_later(self._read_timeout(), self._give_up_confirming, channel, confirmed)
        await self.subscribe(channel)

    async def subscribe(self, channel: str) -> None:
        await super().subscribe(channel)
        self._woken.set()

    def _give_up_confirming(self, channel: str, confirmed: asyncio.Future[None]) -> None:
        if self._confirming.get(channel) is confirmed:
            del self._confirming[channel]
        if not confirmed.done():
            confirmed.set_result(None)  # no confirmation (Redis down): publish anyway

    async def _do_receiving(self) -> None:
        """channels_redis' reader, which also reads the confirmations of subscribes and
        drops a connection whose Redis stopped answering (`_check_alive`)."""
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(timeout=0.1)
                    await self._check_alive(message is not None)
                    if message is None or message["type"] in ("message", "pmessage"):
                        self._receive_message(message)
                    elif message["type"] == "subscribe":
                        name = message["channel"]
                        name = name.decode() if isinstance(name, bytes) else name
                        confirmed = self._confirming.pop(name, None)
                        if confirmed is not None and not confirmed.done():
                            confirmed.set_result(None)
                else:  # nothing subscribed: channels_redis slept 0.1 s here, and the
                    # first subscription's confirmation (which a publish to that group
                    # waits for) waited for the sleep to end: 50 ms on average
                    self._woken.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._woken.wait(), 0.1)
            except (TimeoutError, asyncio.CancelledError, GeneratorExit):
                raise
            except BaseException:
                logger.exception("Unexpected exception in receive task")
                await asyncio.sleep(1)

    async def _check_alive(self, heard: bool) -> None:
        """PING the subscriptions' Redis once it has been quiet for QUIET_SECONDS; if
        the PING goes unanswered for the read timeout, or for QUIET_SECONDS while the
        sentinels already name another primary, drop the shard's connections, so the
        next read connects again (to the primary the sentinels name now) and
        subscribes again, and the next publish too.

        A read that times out is no error for the reader, so a primary that stopped
        answering without closing its connections (stalled, or its host gone from the
        network) kept this process deaf to every group for good, even after Sentinel
        had promoted its replica (#21)."""
        now = asyncio.get_running_loop().time()
        if heard:
            self._heard, self._pinged = now, None
        elif self._pinged is None:
            if now - self._heard > self.QUIET_SECONDS:
                self._pinged = self._asked = now
                assert self._pubsub is not None
                # Not under the shard's lock: a publish stuck on the same dead Redis
                # holds it.
                await self._pubsub.ping()
        elif now - self._pinged > self._read_timeout() or (
            now - self._asked > self.QUIET_SECONDS and await self._primary_moved()
        ):
            logger.warning("Redis did not answer a PING; connecting to it again")
            self._heard, self._pinged = now, None
            assert self._redis is not None
            await self._redis.connection_pool.disconnect(inuse_connections=True)

    async def _primary_moved(self) -> bool:
        """Whether the sentinels name another primary than the one the subscriptions'
        connection is on (never without Sentinel, nor while they name none)."""
        self._asked = asyncio.get_running_loop().time()
        assert self._redis is not None and self._pubsub is not None
        pool = self._redis.connection_pool
        connection = self._pubsub.connection
        if not isinstance(pool, SentinelConnectionPool) or connection is None:
            return False
        try:
            primary = await pool.sentinel_manager.discover_master(pool.service_name)
        except MasterNotFoundError:  # mid-failover
            return False
        return tuple(primary) != (connection.host, connection.port)

    def _read_timeout(self) -> float:
        return float(self.host.get("socket_timeout") or 10.0)

    async def publish(self, channel: str, message: bytes) -> None:
        confirming = self._confirming.get(channel)
        if confirming is not None:  # a group joined a moment ago (`subscribe_confirmed`)
            await asyncio.shield(confirming)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.append((channel, message, done))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_all())
        await done

    async def _send_all(self) -> None:
        try:
            while self._outbox:
                batch, self._outbox = self._outbox, []
                try:
                    async with self._lock:
                        async with self._client().pipeline(transaction=False) as pipe:
                            for channel, message, _ in batch:
                                pipe.publish(channel, message)
                            await pipe.execute()
                        self.round_trips += 1
                except Exception as exc:  # each sender sees the failure, as before
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._sender = None

    def _client(self) -> Redis:
        """The shard's Redis client, made on first use (`_ensure_redis`)."""
        self._ensure_redis()
        assert self._redis is not None
        return self._redis


class PipelinedPubSubLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts: Hosts = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(hosts, *args, **kwargs)
        self._shards = [PipelinedShardConnection(host, self) for host in decode_hosts(hosts)]

    def _pipelined_shard(self, channel_or_group_name: str) -> PipelinedShardConnection:
        shard = self._get_shard(channel_or_group_name)
        assert isinstance(shard, PipelinedShardConnection)  # every shard here is (__init__)
        return shard

    async def new_channel_in_group(self, group: str, prefix: str = "specific.") -> str:
        """`new_channel()` then `group_add()`, with the group subscribed first.

        The two calls take the shard's lock once each, and a publish queued between
        them (a `stop` sent right behind the message that started an answer) went to
        Redis before the group's SUBSCRIBE and was lost. Here the group's SUBSCRIBE is
        the first thing written, in the caller's first step, and publishes to the group
        from this process wait until Redis confirms it (`subscribe_confirmed`)."""
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        self.channels[channel] = asyncio.Queue()
        group_channel = self._get_group_channel_name(group)
        self.groups.setdefault(group_channel, set()).add(channel)
        await self._pipelined_shard(group_channel).subscribe_confirmed(group_channel)
        await self._get_shard(channel).subscribe(channel)
        return channel


class PipelinedPubSubChannelLayer(RedisPubSubChannelLayer):
    """`RedisPubSubChannelLayer` whose per-loop layers pipeline their publishes."""

    def _get_layer(self) -> PipelinedPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = PipelinedPubSubLoopLayer(
                *self._args, **self._kwargs, channel_layer=self
            )
            _wrap_close(self, loop)
        assert isinstance(layer, PipelinedPubSubLoopLayer)  # every layer here is (above)
        return layer


class ReconnectingRedisChannelLayer(RedisChannelLayer):
    """channels_redis' core layer that outlives a Redis failure.

    Its receive raises whatever Redis does: a read timeout while Redis is stalled, a
    reset connection when it restarts. A consumer's receive failing ends the consumer,
    so every socket of the process closed (1011, no readable frame) at the first stall
    or restart. Here a receive waits `RETRY_SECONDS` and tries again, as channels_redis'
    pub/sub layer does in its reader, until Redis answers again.

    The core layer keeps groups in Redis, so a Redis restarted empty has forgotten
    them: every socket went on receiving, deaf to its conversation. After a failure
    the first receive to get through adds this process's channels to their groups
    again (the pub/sub layer's client subscribes again by itself)."""

    RETRY_SECONDS = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # RedisChannelLayer's
        super().__init__(*args, **kwargs)
        self._memberships: dict[str, set[str]] = {}  # group -> channels of this process
        self._groups_lost = False

    async def receive(self, channel: str) -> dict[str, Any]:
        while True:
            try:
                if self._groups_lost:
                    await self._join_groups_again()
                return await super().receive(channel)
            except (RedisError, OSError) as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # Cancelled while Redis failed (a read timeout can stand in for the
                    # cancellation): the receiver is leaving, do not keep it alive.
                    raise asyncio.CancelledError from exc
                self._groups_lost = True
                logger.warning("receive on %s failed (%r); trying again", channel, exc)
                await asyncio.sleep(self.RETRY_SECONDS)

    async def group_add(self, group: str, channel: str) -> None:
        await super().group_add(group, channel)
        self._memberships.setdefault(group, set()).add(channel)

    async def group_discard(self, group: str, channel: str) -> None:
        members = self._memberships.get(group, set())
        members.discard(channel)
        if not members:
            self._memberships.pop(group, None)
        await super().group_discard(group, channel)

    async def _join_groups_again(self) -> None:
        """Add this process's channels to their groups (adding twice is harmless)."""
        self._groups_lost = False
        for group, channels in list(self._memberships.items()):
            for channel in list(channels):
                await super().group_add(group, channel)


class ShardedRedisChannelLayer(ReconnectingRedisChannelLayer):
    """The reconnecting core layer, with direct sends that reach their receiver when it
    shards over several Redis servers.

    Its `send()` picks the server of a process-local channel (`specific.abc!xyz`) by
    hashing the whole name, while `receive()` reads from the server of the part up to
    the `!`: with more than one host, most sends land where nobody reads them
    (django/channels#1492, still so in channels_redis 4.3). Here both hash that part,
    as `group_send()` already does. One host: nothing changes."""

    def consistent_hash(self, value: str | bytes) -> int:
        if isinstance(value, str) and "!" in value:
            value = self.non_local_name(value)
        return super().consistent_hash(value)


async def join_new_channel(layer: BaseChannelLayer, group: str) -> str:
    """A new channel of this process, already in `group`, for any channel layer.

    Anything sent to the group after this coroutine's first step reaches the channel:
    the group's membership is the first thing that goes to Redis (see
    `PipelinedPubSubLoopLayer.new_channel_in_group`). channels_redis' core layer: a
    channel of its own (see `core_private_channel`), then `group_add()`. Other layers:
    `new_channel()` and `group_add()`."""
    if isinstance(layer, PipelinedPubSubChannelLayer):
        return await layer._get_layer().new_channel_in_group(group)
    if isinstance(layer, RedisChannelLayer):
        channel = core_private_channel()
    else:
        channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


class ChannelGone(Exception):
    """`receive_here()` on a channel this process has forgotten (`forget_channel`)."""


async def receive_here(layer: BaseChannelLayer, channel: str) -> dict[str, Any]:
    """`layer.receive(channel)` for a channel made by `join_new_channel`, that a cancel
    ends at once, for any channel layer.

    channels_redis' pub/sub `receive()`, when cancelled, unsubscribes under the shard's
    lock before it lets go, and a receive on a forgotten channel subscribes it again
    and waits on it for good: a listener told to end could outlive its answer. Here
    the pub/sub layer's queue is read directly; unsubscribing is `forget_channel`'s
    job (bounded), and a forgotten channel raises ChannelGone."""
    if not isinstance(layer, RedisPubSubChannelLayer):
        return await layer.receive(channel)
    queue = layer._get_layer().channels.get(channel)
    if queue is None:
        raise ChannelGone(channel)
    message = await queue.get()
    return layer.deserialize(message)


async def forget_channel(layer: BaseChannelLayer, channel: str, timeout: float = 1.0) -> None:
    """Undo `new_channel()` once it is no longer read, for any channel layer.

    channels_redis' pub/sub layer has no `delete_channel()` (its `receive()` says so):
    a new channel stays subscribed, with a queue, until a `receive()` on it is
    cancelled. Here it is dropped and unsubscribed; a failure to unsubscribe (Redis
    down) leaves only a subscription whose messages nobody queues. The other layers
    keep nothing for a channel once its last message has been received."""
    if not isinstance(layer, RedisPubSubChannelLayer):
        return
    inner = layer._get_layer()
    inner.channels.pop(channel, None)
    try:
        async with asyncio.timeout(timeout):
            await inner._get_shard(channel).unsubscribe(channel)
    except Exception:
        logger.debug("could not unsubscribe %s", channel, exc_info=True)


async def ping_shards(layer: BaseChannelLayer | None, timeout: float) -> None:
    """PING every Redis server a channels_redis layer shards over, all at once, each
    within `timeout`; raises ShardDown naming the first that did not answer (by
    position: its URL may hold a password). Nothing for the in-memory layer (or none)."""
    clients: list[Redis]
    if isinstance(layer, RedisPubSubChannelLayer):
        clients = []
        for shard in layer._get_layer()._shards:
            shard._ensure_redis()  # the shard's own client, made on first use
            assert shard._redis is not None
            clients.append(shard._redis)
    elif isinstance(layer, RedisChannelLayer):
        clients = [layer.connection(index) for index in range(layer.ring_size)]
    else:
        return
    # redis-py types a command for its sync and asyncio clients at once (a bool or an
    # awaitable): an asyncio client's is awaitable.
    pings = [cast("Awaitable[bool]", client.ping()) for client in clients]
    results = await asyncio.gather(
        *(asyncio.wait_for(ping, timeout) for ping in pings), return_exceptions=True
    )
    for index, result in enumerate(results):
        if isinstance(result, BaseException):
            problem = (
                f"no answer within {timeout:g} s"
                if isinstance(result, TimeoutError)
                else (f"{type(result).__name__}: {result}")
            )
            raise ShardDown(f"Redis shard {index + 1} of {len(clients)}: {problem}")


class ShardDown(Exception):
    """A Redis server of the channel layer did not answer a PING."""


def core_private_channel(prefix: str = "answer-control") -> str:
    """A channel name for the core layer with a Redis list of its own.

    The core layer's `new_channel()` names share one list per process, read by a single
    BZPOPMIN on behalf of every local channel: cancelling the receive that holds it (as
    an answer does with its control listener when it ends) can lose a message already
    popped for another channel, such as a tab's `chat.end`, which that tab then only
    learnt from its watchdog. A name without "!" is read on its own; cancelling its
    receive loses at most a message for that channel, whose owner is leaving. (With
    several Redis servers channels_redis reads such a channel from each shard in turn,
    5 s per shard at most: a stop to a core-layer answer may take that long.)"""
    return f"{prefix}.{uuid.uuid4().hex}"
