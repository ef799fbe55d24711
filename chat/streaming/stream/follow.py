"""One answer followed by a door that shows no history: its frames as an async iterator.

The server-sent events API and the OpenAI-compatible API (and any door like them)
follow an answer as a browser tab's socket does: a `Follower` is a subscriber of the
conversation (delivery/subscriber.py, carried out by delivery/driver.py) on a channel
of its own, joined to the conversation's group before the answer is started or the
history read, so it misses nothing, and to its user's group, so a logout, a revoked
token or a deactivated account ends it at once. It keeps only the frames of the
answer it follows, numbers them with a `Position` (the answer and how many of its
characters were sent: the event id a client resumes from), and ends with the
answer's `end`, or with an `error` when the bus fails or the credential lapses.

A follower is opened in the view, which may still refuse the request and then
`leave()`s; once the view returns a response, the response's iterator owns it and
leaves when it ends, fails or the client goes away; `on_leave` says what that means
for the answer. A response never iterated (the client left while its headers were
being sent) is left after ABANDONED_SECONDS.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.utils.translation import gettext_noop

from chat import contract
from chat.accounts import guards
from chat.errors import ErrorCode, Refusal
from chat.streaming.answer.registry import stop_here
from chat.streaming.delivery import frames, local
from chat.streaming.delivery.driver import Subscription
from chat.streaming.delivery.frames import Frame
from chat.streaming.delivery.layers import channel_layer, forget_channel, join_new_channel
from chat.streaming.delivery.subscriber import STREAMING, Subscriber, is_stream_event
from chat.streaming.stream.post import OnLeave, Posted, unannounced_start
from chat.telemetry import metrics

if TYPE_CHECKING:
    from chat.conversations.serializers import MessageDict

logger = logging.getLogger(__name__)

Item = tuple[Frame, "Position | None"]
KEEPALIVE_SECONDS = 15.0  # a comment line this often keeps proxies from closing a quiet stream
ABANDONED_SECONDS = 30.0
BUS_FAILED = gettext_noop(
    "The server's message bus failed; reconnect with Last-Event-ID to resume."
)
SIGNED_OUT = gettext_noop("You were signed out (logged out, token revoked or account deactivated).")
TOO_MANY_STREAMS = gettext_noop("Too many open chat connections and streams. Close one and retry.")


@dataclass(frozen=True)
class Position:
    """Where a stream is in an answer: its id and the characters of it sent so far.
    Written as the event id `<message id>:<offset>`."""

    message_id: str
    offset: int = 0

    def __str__(self) -> str:
        return f"{self.message_id}:{self.offset}"

    @classmethod
    def parse(cls, value: str) -> Position | None:
        """A Last-Event-ID; None when it is not one of ours."""
        message_id, _, offset = value.strip().rpartition(":")
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        digits = offset.isascii() and offset.isdigit()
        if not message_id or len(message_id) > 64 or not digits or len(offset) > 9:
            return None
        return cls(message_id, int(offset))


class Follower:
    """Follows one answer of a conversation for an HTTP response.

    `credential`: what signed the request in, as a socket's scope holds it (`user`,
    and `api_token_id` or `session`), checked again when the user's account changes."""

    def __init__(
        self,
        conversation_id: UUID | str,
        *,
        credential: dict[str, Any],
        mode: str,
        on_leave: OnLeave = OnLeave.KEEP,
    ) -> None:
        self.conversation_id = str(conversation_id)
        self.credential = credential
        self.user_id: int = credential["user"].pk
        self.on_leave = on_leave
        self.layer = channel_layer()
        self.subscriber = Subscriber(mode, settings.CHAT_CHUNK_MAX_CHARS)
        self.channel = ""
        self.position: Position | None = None  # the answer followed (None: not yet known)
        self.queue: asyncio.Queue[Item | None] = asyncio.Queue()  # None: the end
        self.started = self.left = self.ended = False
        self.subscription: Subscription | None = None

    # --- Life ------------------------------------------------------------------------

    async def join(self) -> None:
        """Count the stream on the user's cap and join the conversation's and the
        user's groups; a Refusal (nothing joined) when too many are open."""
        if not guards.socket_opened(self.user_id):
            self.left = True
            raise Refusal(ErrorCode.RATE_LIMITED, TOO_MANY_STREAMS)
        try:
            group = contract.conversation_group(self.conversation_id)
            self.channel = await join_new_channel(self.layer, group)
            local.hub().join(group, self.channel)
            await local.group_add(self.layer, contract.user_group(self.user_id), self.channel)
        except BaseException:
            guards.socket_closed(self.user_id)
            self.left = True
            raise
        metrics.HTTP_STREAMS_OPEN.inc()
        self.subscription = Subscription(
            self.subscriber,
            layer=self.layer,
            reply_to=self.channel,
            conversation_id=self.conversation_id,
            send=self._receive_frame,
            on_history=self._joined,
        )

    async def leave(self) -> None:
        """Stop following: the answer as `on_leave` says, timers, groups, channel, cap.
        Once."""
        if self.left:
            return
        self.left = True
        if self.on_leave is OnLeave.STOP and self.position is not None and not self.ended:
            stop_here(self.conversation_id)
        guards.socket_closed(self.user_id)
        metrics.HTTP_STREAMS_OPEN.dec()
        local.hub().close(self.channel)
        if self.subscription is not None:
            self.subscription.close()
        for group in (
            contract.conversation_group(self.conversation_id),
            contract.user_group(self.user_id),
        ):
            try:
                await self.layer.group_discard(group, self.channel)
            except Exception:
                logger.warning("leaving %s failed", group, exc_info=True)
        await forget_channel(self.layer, self.channel)

    def handed_over(self) -> None:
        """The view returned its response: leave if it is never iterated."""

        def abandoned() -> None:
            if not self.started and not self.left:
                asyncio.get_running_loop().create_task(self.leave())

        asyncio.get_running_loop().call_later(ABANDONED_SECONDS, abandoned)

    # --- What to follow --------------------------------------------------------------

    def follow(self, message_id: str, offset: int = 0) -> None:
        self.position = Position(str(message_id), offset)
        self.subscriber.join_offset = offset

    def follow_posted(self, posted: Posted) -> Callable[[Subscription], Awaitable[None]] | None:
        """Follow the answer `post` started; the first step when its start was never
        announced (the channel layer failed): watch the saved answer instead, so the
        watchdog ends it from its row rather than the stream waiting on a silent bus."""
        assert posted.answer_id is not None
        self.follow(posted.answer_id)
        start = unannounced_start(posted)
        if start is None:
            return None

        async def watch(subscription: Subscription) -> None:
            await subscription.step(self.subscriber.on_event, start)

        return watch

    async def frames(
        self, first: Callable[[Subscription], Awaitable[None]] | None = None
    ) -> AsyncIterator[tuple[Frame | None, Position | None]]:
        """The followed answer's frames, each with the position after it, until its
        `end`; (None, None) after KEEPALIVE_SECONDS of quiet. `first`: a first step
        (a history to join from, a start to watch). Leaves when it ends."""
        self.started = True
        assert self.subscription is not None
        receiver = asyncio.get_running_loop().create_task(self._receive_events())
        try:
            if first is not None:
                await first(self.subscription)
            while True:
                try:  # not wait_for: on 3.11 it can swallow the client's leaving
                    async with asyncio.timeout(KEEPALIVE_SECONDS):
                        item = await self.queue.get()
                except TimeoutError:
                    yield None, None
                    continue
                if item is None:
                    return
                if item[0]["type"] == "end":
                    self.ended = True
                yield item
                if self.ended:
                    return
        finally:
            receiver.cancel()
            await asyncio.shield(self.leave())

    # --- Inside ----------------------------------------------------------------------

    async def _receive_events(self) -> None:
        """The conversation's and the user's events, one step each, until cancelled."""
        assert self.subscription is not None
        receive = local.Receiver(self.layer, self.channel)
        try:
            while True:
                event = await receive()
                if is_stream_event(event):
                    await self.subscription.step(self.subscriber.on_event, event)
                elif event.get("type") == "user.check":
                    await self._check_credential()
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.CHANNEL_LAYER_ERRORS.inc()
            logger.warning("stream of %s lost its channel", self.conversation_id, exc_info=True)
            self._fail(ErrorCode.UNAVAILABLE, BUS_FAILED)
        finally:
            receive.close()

    async def _check_credential(self) -> None:
        """The account changed: a credential that no longer signs the user in ends the
        stream (and, by `on_leave`, its answer)."""
        if not await guards.still_signed_in(self.credential):
            self._fail(ErrorCode.NOT_AUTHENTICATED, SIGNED_OUT)

    def _fail(self, code: ErrorCode, message: str) -> None:
        """End the stream with an `error` frame (the answer's id when known)."""
        message_id = self.position.message_id if self.position else None
        extra = {"message_id": message_id} if message_id else {}
        self.queue.put_nowait((frames.error_frame(code, message, **extra), self.position))
        self.queue.put_nowait(None)

    async def _receive_frame(self, frame: Frame) -> None:
        """A frame from the subscriber: keep the followed answer's, counting its text."""
        message_id = frame.get("message_id")
        if self.position is None:
            if frame["type"] != "start":
                return
            self.follow(frame["message_id"])
        assert self.position is not None
        if message_id != self.position.message_id:
            return
        if frame["type"] == "chunk":
            offset = self.position.offset + len(frame["text"])
            self.position = Position(self.position.message_id, offset)
        self.queue.put_nowait((frame, self.position))

    async def _joined(self, messages: list[MessageDict]) -> None:
        """The history a join waited for: the followed answer is running (its start
        goes out; the chunks come from the subscriber) or over (its saved rest, then
        its end)."""
        assert self.position is not None and self.subscription is not None
        saved = next((m for m in messages if m["id"] == self.position.message_id), None)
        if saved is None:  # not in the history read (cannot happen: it is read alone)
            return self._fail(ErrorCode.NOT_FOUND, "This answer no longer exists.")
        if saved["status"] == STREAMING:
            start = frames.start_frame(
                saved["id"],
                saved["model"],
                parent_id=saved["parent_id"],
                siblings=saved["siblings"],
            )
            self.queue.put_nowait((start, self.position))
        else:
            replay = self.subscriber.on_replay(saved, self.position.offset)
            await self.subscription.perform(replay)
