"""Progress saves of every streaming answer of a process, batched into one write.

While an answer streams, its text so far is saved every CHAT_PROGRESS_SAVE_SECONDS
(the loss on a crash is bounded by that) and, even when it did not grow, at least
every fifth of CHAT_STALE_STREAM_SECONDS (an answer not saved for that long belongs to
a dead process: chat/conversations/liveness.py). One saver per event loop does this
for all its answers: one trip to a database thread and one transaction per tick, not
one per answer. A save sends only what the text gained since the last one
(services.messages_save_progress).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from chat.conversations import liveness, services
from chat.db import db_call
from chat.telemetry import metrics

logger = logging.getLogger(__name__)


class Streaming(Protocol):
    """What the saver reads from an answer: its id and its text so far."""

    message_id: str

    @property
    def length(self) -> int: ...

    @property
    def text(self) -> str: ...


@dataclass
class _Tracked:
    answer: Streaming
    saved_length: int
    saved_at: float


class ProgressSaver:
    """Saves the tracked answers of one event loop; runs only while it tracks some."""

    def __init__(self) -> None:
        self._tracked: dict[str, _Tracked] = {}
        self._task: asyncio.Task[None] | None = None

    def track(self, answer: Streaming, *, saved: int = 0) -> None:
        """`saved`: how much of its text the database has (saved when created: empty,
        or a continue's prefix); the first save is due when its text grows."""
        self._tracked[answer.message_id] = _Tracked(answer, saved, time.monotonic())
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="progress-saver")

    def untrack(self, message_id: str) -> None:
        self._tracked.pop(message_id, None)

    async def _run(self) -> None:
        while True:
            if not self._tracked:  # no await between this check and track(): no race
                self._task = None
                return
            await asyncio.sleep(settings.CHAT_PROGRESS_SAVE_SECONDS)
            await self.save_due()

    async def save_due(self) -> int:
        """Save every answer that grew, and the heartbeat of those due one; returns how
        many."""
        now = time.monotonic()
        heartbeat = liveness.heartbeat_seconds(settings.CHAT_STALE_STREAM_SECONDS)
        due: dict[str, tuple[int, str]] = {}
        alive: list[str] = []  # did not grow: only the heartbeat, not the text again
        for message_id, tracked in list(self._tracked.items()):
            length = tracked.answer.length
            if length != tracked.saved_length:
                due[message_id] = _grown(tracked)
            elif now - tracked.saved_at >= heartbeat:
                alive.append(message_id)
            else:
                continue
            tracked.saved_length, tracked.saved_at = length, now
        if not due and not alive:
            return 0
        try:
            await db_call(services.messages_save_progress)(appends=due, alive=alive)
        except Exception:
            metrics.DATABASE_ERRORS.inc()
            logger.exception("progress save of %d answers failed", len(due) + len(alive))
            for message_id in [*due, *alive]:  # try them again at the next tick
                if message_id in self._tracked:
                    self._tracked[message_id].saved_length = -1
        return len(due) + len(alive)


def _grown(tracked: _Tracked) -> tuple[int, str]:
    """(offset, text): what the answer's text gained since it was last saved (all of
    it after a failed save, which left `saved_length` -1)."""
    offset = max(tracked.saved_length, 0)
    return offset, tracked.answer.text[offset:]


_savers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ProgressSaver] = (
    weakref.WeakKeyDictionary()
)


def progress_saver() -> ProgressSaver:
    """The running loop's saver, made on first use."""
    loop = asyncio.get_running_loop()
    saver = _savers.get(loop)
    if saver is None:
        saver = _savers[loop] = ProgressSaver()
    return saver
