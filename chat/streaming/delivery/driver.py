"""Carry out a Subscriber's actions over the channel layer, for any transport.

The transport (the chat WebSocket, the staff tail, later an HTTP stream) feeds the
conversation's events in and says how a frame is sent; a Subscription runs the
subscriber's rules one step at a time (deadlines included), sends its frames,
requests its syncs, reads the saved messages it asks for and keeps its timers on
the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec
from uuid import UUID

from channels.layers import BaseChannelLayer

from chat import contract
from chat.conversations import selectors, serializers, services
from chat.db import db_call
from chat.streaming.delivery import local
from chat.streaming.delivery.frames import Frame
from chat.streaming.delivery.subscriber import (
    Action,
    Deadline,
    ReadMessage,
    RequestSync,
    Send,
    SendHistory,
    SetDeadline,
    Subscriber,
    SyncReason,
)
from chat.telemetry import metrics

if TYPE_CHECKING:
    from chat.conversations.serializers import MessageDict

logger = logging.getLogger(__name__)

P = ParamSpec("P")
READ_RETRY_SECONDS = 1.0  # a saved message that could not be read is read again after this


class Subscription:
    def __init__(
        self,
        subscriber: Subscriber,
        *,
        layer: BaseChannelLayer,
        reply_to: str,
        conversation_id: UUID | str,
        send: Callable[[Frame], Awaitable[None]],
        on_history: Callable[[list[MessageDict]], Awaitable[None]],
    ) -> None:
        self.subscriber = subscriber
        self.layer = layer
        self.reply_to = reply_to  # the channel the running answer replies to
        self.conversation_id = conversation_id
        self.send = send
        self.on_history = on_history  # a history to show (SendHistory)
        self.lock = asyncio.Lock()  # one step at a time: events, frames and deadlines
        self.deadlines: dict[Deadline, asyncio.TimerHandle] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def step(
        self, rule: Callable[P, list[Action]], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """Apply one of the subscriber's rules and carry out what it returns."""
        async with self.lock:
            await self.perform(rule(*args, **kwargs))

    async def perform(self, actions: list[Action]) -> None:
        for action in actions:
            if type(action) is Send:
                await self.send(action.frame)
            elif isinstance(action, SendHistory):
                await self.on_history(action.messages)
            elif isinstance(action, RequestSync):
                if action.reason == SyncReason.GAP:
                    logger.warning("gap in answer %s at %d", action.message_id, action.offset)
                # An answer of this process gets it at once; one elsewhere through
                # the layer, and if that fails the deadline falls back to the saved text.
                group = contract.control_group(self.conversation_id)
                sync = contract.gen_sync(self.reply_to, action.offset)
                local.group_send(self.layer, group, dict(sync))
            elif isinstance(action, ReadMessage):
                try:
                    saved = await db_call(saved_message)(action.message_id)
                except Exception as exc:  # the database is down: read it again later
                    metrics.DATABASE_ERRORS.inc()
                    logger.warning("reading answer %s failed: %r", action.message_id, exc)
                    self._later(
                        READ_RETRY_SECONDS, functools.partial(self.perform, [action]), "read"
                    )
                    continue
                await self.perform(self.subscriber.on_saved(action.reason, saved))
            elif isinstance(action, SetDeadline):
                self.set_deadline(action)

    def set_deadline(self, action: SetDeadline) -> None:
        """A timer on this event loop; it replaces the earlier one of its kind."""
        if (earlier := self.deadlines.pop(action.kind, None)) is not None:
            earlier.cancel()
        self.deadlines[action.kind] = asyncio.get_running_loop().call_later(
            action.seconds, self._deadline_passed, action
        )

    def _deadline_passed(self, action: SetDeadline) -> None:
        self.deadlines.pop(action.kind, None)
        step = self.step(self.subscriber.on_deadline, action.kind, action.token)
        self._run(step, f"deadline-{action.kind}")

    def _later(self, seconds: float, work: Callable[[], Awaitable[None]], name: str) -> None:
        """`work()` in a step of its own after `seconds` (this step holds the lock)."""

        async def locked() -> None:
            await asyncio.sleep(seconds)
            async with self.lock:
                await work()

        self._run(locked(), name)

    def _run(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def close(self) -> None:
        """The transport is gone: no timer fires for it any more."""
        for handle in self.deadlines.values():
            handle.cancel()
        for task in self.tasks:
            task.cancel()


def history(conversation_id: UUID | str, limit: int) -> tuple[list[MessageDict], bool]:
    """The conversation's newest messages, serialized, for `Subscriber.on_history`, and
    whether there are older ones."""
    messages, more = services.conversation_open_page(conversation_id=conversation_id, limit=limit)
    return [serializers.message_to_dict(m) for m in messages], more


def older(conversation_id: UUID | str, before: str, limit: int) -> tuple[list[MessageDict], bool]:
    """A page of the messages before message `before` (DoesNotExist: no such message)."""
    page = selectors.conversation_page(conversation_id=conversation_id, limit=limit, before=before)
    return [serializers.message_to_dict(m) for m in page[0]], page[1]


def saved_message(message_id: str) -> MessageDict | None:
    """One message as saved now, serialized (None once deleted). An answer whose
    process died is swept first, so a watching tab sees it end."""
    services.messages_sweep_stale(message_id=message_id)
    message = selectors.message_get(message_id=message_id)
    return serializers.message_to_dict(message) if message is not None else None


def answer_to_follow(conversation_id: UUID | str, message_id: str | None) -> MessageDict | None:
    """The answer a stream follows, serialized: `message_id` (a resume), or the one
    running now in the conversation; None when there is none."""
    answer = selectors.answer_to_follow(conversation_id=conversation_id, message_id=message_id)
    return serializers.message_to_dict(answer) if answer is not None else None
