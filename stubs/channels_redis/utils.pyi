# What this project uses of channels_redis.utils (4.3), which ships no type information.
import asyncio
from collections.abc import Sequence
from typing import Any, TypeAlias

from channels_redis.pubsub import RedisPubSubChannelLayer

# The `hosts` of a layer's CONFIG: addresses, (host, port) pairs or redis-py's kwargs.
Hosts: TypeAlias = Sequence[str | tuple[str, int] | list[Any] | dict[str, Any]] | None

def _consistent_hash(value: str | bytes, ring_size: int) -> int: ...
def _wrap_close(proxy: RedisPubSubChannelLayer, loop: asyncio.AbstractEventLoop) -> None: ...
def decode_hosts(hosts: Hosts) -> list[dict[str, Any]]: ...
