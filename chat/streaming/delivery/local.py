"""In-process delivery: an answer's events reach the subscribers in its own process
without a trip through Redis.

An answer runs in the process its message arrived at, so the subscriber that asked
for it (the tab, the HTTP stream) is always here. `group_send` puts an event in the
inbox of each of this process's members of the group at once, then hands the copy
for the other processes to the group's `Outbox`, which sends it through the channel
layer in the background, in order, marked with this process's id; a `Receiver` drops
that copy when it comes back. A Redis that freezes or dies therefore delays or loses
only other processes' copies (their subscribers catch up from the saved answer once
it is back: delivery/subscriber.py), never this process's, and an answer's relay
never waits on it. A process-local send also skips the round trip to Redis.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import BaseChannelLayer

from chat.telemetry import metrics

logger = logging.getLogger(__name__)

Event = dict[str, Any]  # a message of the channel layer, as Channels types it
PROCESS_ID = uuid.uuid4().hex  # marks this process's copies of its own group sends
ORIGIN = "origin"
MAX_QUEUED = 2000  # an outbox's events at most; beyond, its oldest deltas are dropped
LINGER_SECONDS = 2.0  # an idle outbox's task waits this long for more before it goes


class Hub:
    """This process's channels that take local delivery: their inboxes and groups."""

    def __init__(self) -> None:
        self.inboxes: dict[str, asyncio.Queue[Event]] = {}
        self.groups: dict[str, set[str]] = defaultdict(set)
        self.outboxes: dict[str, Outbox] = {}

    def open(self, channel: str) -> asyncio.Queue[Event]:
        return self.inboxes.setdefault(channel, asyncio.Queue())

    def close(self, channel: str) -> None:
        self.inboxes.pop(channel, None)
        for group in [g for g, members in self.groups.items() if channel in members]:
            self.leave(group, channel)

    def join(self, group: str, channel: str) -> None:
        self.open(channel)
        self.groups[group].add(channel)

    def leave(self, group: str, channel: str) -> None:
        members = self.groups.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del self.groups[group]

    def deliver(self, group: str, event: Event) -> int:
        """Put `event` in the inbox of each member of `group` here; how many."""
        members = self.groups.get(group, ())
        for channel in members:
            self.inboxes[channel].put_nowait(dict(event))
        return len(members)

    def outbox(self, key: str) -> Outbox:
        """The outbox of a group or channel (made when needed, gone when idle)."""
        if (box := self.outboxes.get(key)) is None:
            box = self.outboxes[key] = Outbox(key, on_idle=lambda: self.outboxes.pop(key, None))
        return box


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The hub of the running event loop (a process serves from one loop)."""
    loop = asyncio.get_running_loop()
    if (found := _hubs.get(loop)) is None:
        found = _hubs[loop] = Hub()
    return found


class Outbox:
    """Sends to the channel layer in the background, one at a time, in order. A send
    that fails is counted, logged and dropped: the subscribers of other processes
    recover what they missed from the saved answer. Its task stays a moment after its
    last send (an answer's next delta is on its way), then goes with the outbox."""

    def __init__(self, key: str, *, on_idle: Callable[[], object]) -> None:
        self.key = key
        self.queue: deque[tuple[Event, Callable[[Event], Awaitable[None]]]] = deque()
        self.task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.on_idle = on_idle

    def put(self, event: Event, send: Callable[[Event], Awaitable[None]]) -> None:
        self.queue.append((event, send))
        if len(self.queue) > MAX_QUEUED:  # a stalled bus: keep starts, ends and replies
            kept = [item for item in self.queue if item[0].get("type") != "chat.delta"]
            self.queue = deque(kept[-MAX_QUEUED:])
        self.wake.set()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name=f"out-{self.key}")

    async def _run(self) -> None:
        try:
            while True:
                while self.queue:
                    await self._send(*self._next())
                self.wake.clear()
                try:
                    async with asyncio.timeout(LINGER_SECONDS):
                        await self.wake.wait()
                except TimeoutError:
                    if not self.queue:
                        return
        finally:
            self.task = None
            if self.queue:  # cancelled with work left: nobody will send it
                self.queue.clear()
            self.on_idle()

    def _next(self) -> tuple[Event, Callable[[Event], Awaitable[None]]]:
        """The oldest event; a `chat.delta` with the deltas that follow it of the same
        answer merged in: while the layer is slow, other processes get fewer, larger
        events (as when the answer itself waited for each send)."""
        event, send = self.queue.popleft()
        if event.get("type") != "chat.delta":
            return event, send
        deltas = list(event["deltas"])
        while self.queue and _continues(self.queue[0][0], event, deltas):
            deltas += self.queue.popleft()[0]["deltas"]
        return {**event, "deltas": deltas}, send

    async def _send(self, event: Event, send: Callable[[Event], Awaitable[None]]) -> None:
        try:
            await send(event)
        except Exception as exc:
            metrics.CHANNEL_LAYER_ERRORS.inc()
            logger.warning("%s to %s not sent: %r", event.get("type"), self.key, exc)


def _continues(event: Event, first: Event, deltas: list[str]) -> bool:
    """Is `event` the next `chat.delta` of `first`'s answer, right after `deltas`?"""
    return (
        event.get("type") == "chat.delta"
        and event.get("message_id") == first["message_id"]
        and event.get("offset") == first["offset"] + sum(map(len, deltas))
    )


# --- What senders call ------------------------------------------------------------------


def group_send(layer: BaseChannelLayer, group: str, event: Event) -> int:
    """`event` to every member of `group`: this process's at once, the others' through
    the layer in the background. Never waits and never raises; returns how many
    members here received it."""
    here = hub().deliver(group, event)
    marked = {**event, ORIGIN: PROCESS_ID}
    hub().outbox(group).put(marked, lambda e: layer.group_send(group, e))
    return here


def send(layer: BaseChannelLayer, channel: str, event: Event) -> None:
    """`event` to one channel: its inbox if it is here, else through the layer in the
    background (never waits, never raises)."""
    box = hub().inboxes.get(channel)
    if box is not None:
        box.put_nowait(event)
        return
    hub().outbox(channel).put(event, lambda e: layer.send(channel, e))


async def group_add(layer: BaseChannelLayer, group: str, channel: str) -> None:
    """Join here at once, then in the layer (raises if that fails)."""
    hub().join(group, channel)
    await layer.group_add(group, channel)


async def group_discard(layer: BaseChannelLayer, group: str, channel: str) -> None:
    hub().leave(group, channel)
    await layer.group_discard(group, channel)


# --- What subscribers call ---------------------------------------------------------------


class Receiver:
    """The events for one channel, in one queue: this process's put straight in by the
    senders, the channel layer's by a pump, which drops the layer's copies of this
    process's own group sends (already here)."""

    def __init__(self, layer: BaseChannelLayer, channel: str) -> None:
        self.layer = layer
        self.channel = channel
        self.inbox = hub().open(channel)
        self.failure: BaseException | None = None
        self.pump = asyncio.get_running_loop().create_task(self._pump(), name=f"in-{channel}")

    async def _pump(self) -> None:
        try:
            while True:
                event = await self.layer.receive(self.channel)
                if event.get(ORIGIN) != PROCESS_ID:
                    self.inbox.put_nowait(event)
        except Exception as exc:  # the reader gets it, in order after what came before
            self.failure = exc
            self.inbox.put_nowait(FAILED)

    async def __call__(self) -> Event:
        event = await self.inbox.get()
        if event is FAILED and self.failure is not None:
            raise self.failure
        return event

    def close(self) -> None:
        """No more events for this channel here."""
        self.pump.cancel()
        hub().close(self.channel)


FAILED: Event = {"type": "local.failed"}  # the pump's marker: the layer's receive failed
