"""How any process reaches a running answer: its control listener.

The answer's own channel joins the conversation's control group `conv.<id>.ctl`.
`gen.stop` ends the answer `stopped`; `gen.sync` {`reply_to`, `offset`} gets the text
so far from that offset as `chat.sync` (a tab that joins mid-answer, or saw a gap).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from channels.layers import BaseChannelLayer

from chat import contract
from chat.contract import control_group
from chat.streaming.answer.relay import Relay
from chat.streaming.answer.retry import retrying
from chat.streaming.answer.text import AnswerText
from chat.streaming.delivery.layers import forget_channel, join_new_channel
from chat.telemetry import metrics

logger = logging.getLogger(__name__)

LISTENER_CLOSE_SECONDS = 2.0  # an ended answer's control listener, told to return


class ControlListener:
    """Serves one answer's control group from `open` until `close`."""

    def __init__(
        self,
        layer: BaseChannelLayer,
        *,
        relay: Relay,
        answer: AnswerText,
        conversation_id: str,
        message_id: str,
        stop: Callable[[], None],
    ) -> None:
        self._layer = layer
        self._relay = relay
        self._answer = answer
        self._group = control_group(conversation_id)
        self._message_id = message_id
        self._stop = stop
        self._channel: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Join the control group, then listen. The membership goes to Redis in this
        call's first step (layers.join_new_channel): a `stop` sent right behind the
        message finds the answer listening. Raises if the channel layer fails."""
        self._channel = await join_new_channel(self._layer, self._group)
        self._task = asyncio.get_running_loop().create_task(
            self._listen(self._channel), name=f"answer-{self._message_id}-control"
        )

    async def close(self) -> None:
        """End the listener and leave its group (the answer has ended).

        The listener is told to return (`gen.close` on its own channel) rather than
        cancelled: on channels_redis' core layer a cancelled receive could stay blocked
        on Redis for good, one task leaked per answer. Cancelling is the fallback when
        the message does not get through in time, and nothing waits for it."""
        channel, listener = self._channel, self._task
        if channel is None:  # never joined
            return
        if listener is not None:
            try:
                await self._layer.send(channel, {"type": "gen.close"})
                await asyncio.wait({listener}, timeout=LISTENER_CLOSE_SECONDS)
            except Exception:
                metrics.CHANNEL_LAYER_ERRORS.inc()
            if not listener.done():
                listener.cancel()
        try:
            await self._layer.group_discard(self._group, channel)
            await forget_channel(self._layer, channel)
        except Exception:
            metrics.CHANNEL_LAYER_ERRORS.inc()
            logger.warning("answer %s: could not leave the control group", self._message_id)

    async def _listen(self, channel: str) -> None:
        while True:
            event = await retrying(
                lambda: self._layer.receive(channel),
                what=f"control channel of answer {self._message_id}",
                errors=metrics.CHANNEL_LAYER_ERRORS,
                pause=0.5,
                max_pause=0.5,
            )
            kind = event.get("type")
            if kind == "gen.close":  # the answer has ended (`close`)
                return
            if kind == "gen.stop":
                self._stop()
            elif kind == "gen.sync" and event.get("reply_to"):
                await self._reply(event)

    async def _reply(self, sync: dict[str, Any]) -> None:
        """Send the text from the asked offset on to the channel that asked."""
        offset = max(0, int(sync.get("offset") or 0))
        reply = contract.chat_sync(self._message_id, offset, self._answer.since(offset))
        try:
            await self._relay.publish(reply, to=sync["reply_to"])
        except Exception:
            metrics.CHANNEL_LAYER_ERRORS.inc()
            logger.warning("could not answer a sync request for %s", self._message_id)
