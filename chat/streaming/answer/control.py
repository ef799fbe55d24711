"""How any process reaches a running answer: its control listener.

The answer listens on the conversation's control group `conv.<id>.ctl` twice: on a
channel of this process at once (delivery/local.py: the tabs and streams here reach
it with no trip through Redis, and a stalled Redis cannot hold the answer's start),
and on a channel of the layer, joined in the background, for the other processes.
`gen.stop` ends the answer `stopped`; `gen.sync` {`reply_to`, `offset`} gets the text
so far from that offset as `chat.sync` (a tab that joins mid-answer, or saw a gap).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from channels.layers import BaseChannelLayer

from chat import contract
from chat.contract import control_group
from chat.streaming.answer.relay import Relay
from chat.streaming.answer.retry import retrying
from chat.streaming.answer.text import AnswerText
from chat.streaming.delivery import local
from chat.streaming.delivery.layers import (
    ChannelGone,
    forget_channel,
    join_new_channel,
    receive_here,
)
from chat.telemetry import metrics

logger = logging.getLogger(__name__)

LISTENER_CLOSE_SECONDS = 2.0  # an ended answer's control listener, told to return
LEAVE_SECONDS = 3 * LISTENER_CLOSE_SECONDS  # leaving the layer's control group, at most


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
        self._here = f"answer-control.here.{uuid.uuid4().hex}"  # the local channel
        self._channel: str | None = None  # the layer's, once joined
        self._joined = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        """Listen here at once; join the layer's control group in the background."""
        inbox = local.hub().open(self._here)
        local.hub().join(self._group, self._here)
        self._tasks = [
            self._task(self._listen(inbox.get), "control-here"),
            self._task(self._listen_remote(), "control"),
        ]

    async def close(self) -> None:
        """End both listeners and leave the group (the answer has ended): here at once,
        in the layer within LEAVE_SECONDS (a stalled Redis holds the answer's task no
        longer; its subscribers here have had its end already).

        The layer's listener is told to return (`gen.close` on its own channel) rather
        than cancelled: on channels_redis' core layer a cancelled receive could stay
        blocked on Redis for good, one task leaked per answer; and a join under way is
        let finish for the same reason. Cancelling is the fallback when the message
        does not get through in time."""
        local.hub().close(self._here)
        here, remote = self._tasks or (None, None)
        if here is not None:
            here.cancel()
        if remote is None:
            return
        try:
            async with asyncio.timeout(LEAVE_SECONDS):
                await self._leave(remote)
        except TimeoutError:
            metrics.CHANNEL_LAYER_ERRORS.inc()
            logger.warning("answer %s: the control group was not left in time", self._message_id)
            remote.cancel()

    def _task(self, coroutine: Coroutine[Any, Any, None], role: str) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(
            coroutine, name=f"answer-{self._message_id}-{role}"
        )

    async def _leave(self, remote: asyncio.Task[None]) -> None:
        try:  # a join under way finishes first (cancelling it could leave it stuck)
            async with asyncio.timeout(LISTENER_CLOSE_SECONDS):
                await self._joined.wait()
        except TimeoutError:  # never joined (Redis down): nothing there to leave
            remote.cancel()
            return
        channel = self._channel
        assert channel is not None
        try:
            await self._layer.send(channel, {"type": "gen.close"})
            await asyncio.wait({remote}, timeout=LISTENER_CLOSE_SECONDS)
        except Exception:
            metrics.CHANNEL_LAYER_ERRORS.inc()
        if not remote.done():
            remote.cancel()
        try:
            await self._layer.group_discard(self._group, channel)
            await forget_channel(self._layer, channel)
        except Exception:
            metrics.CHANNEL_LAYER_ERRORS.inc()
            logger.warning("answer %s: could not leave the control group", self._message_id)

    async def _listen_remote(self) -> None:
        """Join the layer's control group (until it works), then listen on it; the
        copies of this process's own requests (served here already) are skipped."""
        self._channel = await retrying(
            lambda: join_new_channel(self._layer, self._group),
            what=f"control group of answer {self._message_id}",
            errors=metrics.CHANNEL_LAYER_ERRORS,
            pause=0.5,
            max_pause=2.0,
        )
        self._joined.set()
        channel = self._channel

        async def receive() -> local.Event:
            while True:
                event = await retrying(
                    lambda: receive_here(self._layer, channel),
                    final=(ChannelGone,),
                    what=f"control channel of answer {self._message_id}",
                    errors=metrics.CHANNEL_LAYER_ERRORS,
                    pause=0.5,
                    max_pause=0.5,
                )
                if event.get(local.ORIGIN) != local.PROCESS_ID:
                    return event

        with contextlib.suppress(ChannelGone):  # left already (`close`)
            await self._listen(receive)

    async def _listen(self, receive: Callable[[], Awaitable[local.Event]]) -> None:
        while True:
            event = await receive()
            kind = event.get("type")
            if kind == "gen.close":  # the answer has ended (`close`)
                return
            if kind == "gen.stop":
                self._stop()
            elif kind == "gen.sync" and event.get("reply_to"):
                await self._reply(event)

    async def _reply(self, sync: local.Event) -> None:
        """Send the text from the asked offset on to the channel that asked."""
        offset = max(0, int(sync.get("offset") or 0))
        reply = contract.chat_sync(self._message_id, offset, self._answer.since(offset))
        try:
            await self._relay.publish(reply, to=sync["reply_to"])
        except Exception:
            metrics.CHANNEL_LAYER_ERRORS.inc()
            logger.warning("could not answer a sync request for %s", self._message_id)
