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
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close, decode_hosts


class PipelinedShardConnection(RedisSingleShardConnection):
    def __init__(self, host: Any, channel_layer: Any) -> None:
        super().__init__(host, channel_layer)
        self._outbox: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._sender: asyncio.Task[None] | None = None
        self.round_trips = 0  # pipelines sent, for tests and benchmarks

    async def publish(self, channel: str, message: bytes) -> None:
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
                        self._ensure_redis()
                        async with self._redis.pipeline(transaction=False) as pipe:
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


class PipelinedPubSubLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(hosts, *args, **kwargs)
        self._shards = [PipelinedShardConnection(host, self) for host in decode_hosts(hosts)]


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
        return layer
