# What this project uses of channels_redis.core (4.3), which ships no type information.
from typing import Any, ClassVar

from channels.layers import BaseChannelLayer
from channels_redis.utils import Hosts
from redis.asyncio import Redis

class RedisChannelLayer(BaseChannelLayer):
    brpop_timeout: ClassVar[int]
    hosts: list[dict[str, Any]]
    ring_size: int
    prefix: str
    group_expiry: int
    client_prefix: str

    def __init__(
        self,
        hosts: Hosts = None,
        prefix: str = "asgi",
        expiry: int = 60,
        group_expiry: int = 86400,
        capacity: int = 100,
        channel_capacity: dict[Any, int] | None = None,
        symmetric_encryption_keys: list[str | bytes] | None = None,
        random_prefix_length: int = 12,
        serializer_format: str = "msgpack",
    ) -> None: ...
    async def send(self, channel: str, message: dict[str, Any]) -> None: ...
    async def receive(self, channel: str) -> dict[str, Any]: ...
    async def new_channel(self, prefix: str = "specific") -> str: ...
    async def flush(self) -> None: ...
    async def close_pools(self) -> None: ...
    async def group_add(self, group: str, channel: str) -> None: ...
    async def group_discard(self, group: str, channel: str) -> None: ...
    async def group_send(self, group: str, message: dict[str, Any]) -> None: ...
    def consistent_hash(self, value: str | bytes) -> int: ...
    def connection(self, index: int) -> Redis: ...
