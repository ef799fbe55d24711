"""How one answer reaches its subscribers: every event through `Relay.publish`, the
deltas gathered by a `DeltaPump` into at most one `chat.delta` per interval."""

from __future__ import annotations

import asyncio
import logging

from channels.layers import BaseChannelLayer
from django.conf import settings

from chat import contract
from chat.contract import conversation_group
from chat.streaming.delivery import local
from chat.telemetry import metrics

logger = logging.getLogger(__name__)

PUMP_CLOSE_SECONDS = 10.0  # for an ending answer's last deltas to go out


class Relay:
    """The one way out for an answer's events (`chat.start`, `chat.delta`, `chat.sync`
    replies, `chat.end`, its title's `chat.conversation`)."""

    def __init__(self, layer: BaseChannelLayer, conversation_id: str) -> None:
        self.layer = layer
        self.group = conversation_group(conversation_id)

    async def publish(self, event: contract.Event, *, to: str | None = None) -> None:
        """Send `event` to the conversation's group, or to the one channel `to` (the
        tab that asked for a `chat.sync`): this process's subscribers at once, the
        others' through the channel layer in the background (delivery/local.py), so
        the answer never waits on Redis."""
        message = contract.layer_message(event)
        if to is None:
            local.group_send(self.layer, self.group, message)
        else:
            local.send(self.layer, to, message)


class DeltaPump:
    """Publishes the answer's new text as `chat.delta` events with their character
    offset, at most one per CHAT_STREAM_COALESCE_MS. Deltas pushed before `start`
    (which follows `chat.start`) wait for it."""

    def __init__(self, relay: Relay, message_id: str, offset: int) -> None:
        self._relay = relay
        self._message_id = message_id
        self._pending: list[str] = []
        self._sent = offset  # characters already sent to the group (or known)
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def push(self, delta: str) -> None:
        self._pending.append(delta)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"answer-{self._message_id}-pump"
        )
        self._wake.set()  # anything that arrived before the start

    async def close(self) -> None:
        """Send what is pending, then stop: called when the answer ends."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, timeout=PUMP_CLOSE_SECONDS)
        except Exception:
            logger.warning("answer %s: could not send its last deltas", self._message_id)

    async def _run(self) -> None:
        interval = settings.CHAT_STREAM_COALESCE_MS / 1000
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending:
                await self._flush()
            if self._closing:
                return
            if interval:
                await asyncio.sleep(interval)

    async def _flush(self) -> None:
        deltas, self._pending = self._pending, []
        offset, self._sent = self._sent, self._sent + sum(map(len, deltas))
        try:
            await self._relay.publish(contract.chat_delta(self._message_id, offset, deltas))
        except Exception:  # a tab sees the gap by the next offset and asks for the text
            metrics.CHANNEL_LAYER_ERRORS.inc()
            logger.warning("answer %s: group_send of chat.delta failed", self._message_id)
