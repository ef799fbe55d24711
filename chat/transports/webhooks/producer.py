"""Each answer's chunks written to the webhook outbox, in the process that runs it.

`answer_started` is post()'s hook (chat/streaming/stream/post.py): called as an answer
starts, before its first event, it joins the conversation's group in this process
(a local channel: the answer is here, so no trip through Redis and nothing missed),
then looks up the conversation's active subscriptions on the database threads. With
none it leaves; otherwise a `Subscriber` per chunk mode follows the answer like any
other subscriber (a tab, an HTTP stream) and each chunk becomes one outbox row per
subscription of that mode, numbered by `seq`, then a final row. Rows are written by
one writer per answer, in order, in batches; nothing here waits on the answer or
makes it wait, and a receiver is never called from here (worker.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from chat import contract
from chat.db import GroupCall, db_call
from chat.streaming.delivery import local
from chat.streaming.delivery.driver import Subscription
from chat.streaming.delivery.frames import Frame
from chat.streaming.delivery.layers import channel_layer
from chat.streaming.delivery.subscriber import Subscriber, is_stream_event
from chat.telemetry import metrics
from chat.transports.webhooks import worker
from chat.webhooks import payloads, selectors, services

logger = logging.getLogger(__name__)

WHOLE = "end"  # the mode of whole answers: followed in token mode, sent at its end
WRITE_RETRY_SECONDS = 1.0
Row = tuple[int, str, int, dict[str, Any]]
_feeds: set[asyncio.Task[None]] = set()


# A burst of answers starting looks their subscriptions up together (two queries), not
# a hundred lookups on the database threads beside the starts' own exchange.
_lookups: GroupCall[str, list[tuple[int, str, str]]] = GroupCall(
    selectors.subscriptions_of_answers, name="webhook-lookups"
)


def answer_started(conversation_id: str, message_id: str) -> None:
    """post()'s hook: follow the answer if anyone subscribed to it (never waits)."""
    channel = f"webhooks.{uuid.uuid4().hex}"
    local.hub().join(contract.conversation_group(conversation_id), channel)
    feed = AnswerFeed(conversation_id, message_id, channel)
    task = asyncio.get_running_loop().create_task(feed.run(), name=f"webhooks-{message_id}")
    _feeds.add(task)
    task.add_done_callback(_feeds.discard)


async def feeds_done(timeout: float) -> None:
    """Wait for the answers followed now to be written (tests, shutdown)."""
    if _feeds:
        await asyncio.wait(list(_feeds), timeout=timeout)


@dataclass
class ModeFeed:
    """One chunk mode's subscriptions and what they were sent of the answer."""

    subscriptions: list[tuple[int, str]]  # (id, format)
    whole: bool  # `end` mode: one chunk, the whole answer, at its end
    text: list[str] = field(default_factory=list)
    error_code: str = ""
    ended: bool = False


class AnswerFeed:
    def __init__(self, conversation_id: str, message_id: str, channel: str) -> None:
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.channel = channel
        self.seq: dict[int, int] = {}  # subscription id: its next seq
        self.pending: list[Row] = []
        self.written = asyncio.Event()  # the writer has taken all pending rows
        self.more = asyncio.Event()
        self.modes: dict[str, ModeFeed] = {}

    async def run(self) -> None:
        inbox = local.hub().open(self.channel)
        subscriptions: list[Subscription] = []
        try:
            found = await _lookups.submit(self.conversation_id)
            if not found:
                return
            subscriptions = self._subscribe(found)
            writer = asyncio.get_running_loop().create_task(self._write())
            while not all(mode.ended for mode in self.modes.values()):
                event = await inbox.get()
                if is_stream_event(event):
                    for subscription in subscriptions:
                        await subscription.step(subscription.subscriber.on_event, event)
            self.more.set()
            await writer
        except Exception:
            metrics.DATABASE_ERRORS.inc()
            logger.warning("webhooks of answer %s not written", self.message_id, exc_info=True)
        finally:
            local.hub().close(self.channel)
            for subscription in subscriptions:
                subscription.close()

    def _subscribe(self, found: list[tuple[int, str, str]]) -> list[Subscription]:
        """A subscriber per chunk mode, following this answer from its start."""
        for pk, mode, fmt in found:
            key = "token" if mode == WHOLE else mode
            feed = self.modes.setdefault(key, ModeFeed([], whole=mode == WHOLE))
            feed.subscriptions.append((pk, fmt))
            self.seq[pk] = 0
        return [self._subscription(mode, feed) for mode, feed in self.modes.items()]

    def _subscription(self, mode: str, feed: ModeFeed) -> Subscription:
        subscriber = Subscriber(mode, settings.CHAT_CHUNK_MAX_CHARS)

        async def send(frame: Frame) -> None:
            self._frame(feed, frame)

        async def no_history(_: Any) -> None:
            return None

        return Subscription(
            subscriber,
            layer=channel_layer(),
            reply_to=self.channel,
            conversation_id=self.conversation_id,
            send=send,
            on_history=no_history,
        )

    def _frame(self, feed: ModeFeed, frame: Frame) -> None:
        """A frame of the answer: its chunks and ending become rows."""
        if frame.get("message_id") != self.message_id or feed.ended:
            return
        if frame["type"] == "chunk":
            if feed.whole:
                feed.text.append(frame["text"])
            else:
                self._add(
                    feed,
                    lambda fmt, seq: payloads.chunk_body(
                        fmt, message_id=self.message_id, seq=seq, text=frame["text"]
                    ),
                )
        elif frame["type"] == "error":
            feed.error_code = str(frame.get("code", ""))
        elif frame["type"] == "end":
            if feed.whole:
                whole = "".join(feed.text)
                self._add(
                    feed,
                    lambda fmt, seq: payloads.chunk_body(
                        fmt, message_id=self.message_id, seq=seq, text=whole
                    ),
                )
            self._add(
                feed,
                lambda fmt, seq: payloads.final_body(
                    fmt,
                    message_id=self.message_id,
                    seq=seq,
                    status=frame["status"],
                    error_code=feed.error_code,
                ),
            )
            feed.ended = True

    def _add(self, feed: ModeFeed, body_of: Callable[[str, int], dict[str, Any] | None]) -> None:
        for pk, fmt in feed.subscriptions:
            body = body_of(fmt, self.seq[pk])
            if body is not None:
                self.pending.append((pk, self.message_id, self.seq[pk], body))
                self.seq[pk] += 1
        self.more.set()

    async def _write(self) -> None:
        """Write the rows in order, in batches, until the answer ended and all are in;
        a failed write is tried again (the database is down a moment)."""
        while True:
            await self.more.wait()
            self.more.clear()
            done = all(mode.ended for mode in self.modes.values())
            batch, self.pending = self.pending, []
            while batch:
                try:
                    await db_call(services.deliveries_write)(batch)
                    batch = []
                except Exception:
                    metrics.DATABASE_ERRORS.inc()
                    logger.warning("webhook rows not written yet", exc_info=True)
                    await asyncio.sleep(WRITE_RETRY_SECONDS)
            if (delivering := worker.ensure_delivering()) is not None:
                delivering.wake.set()  # this process posts them at once
            if done and not self.pending:
                return
