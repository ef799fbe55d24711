"""Progress saves of every streaming answer of a process, batched into one write.

While an answer streams, its text so far is saved every CHAT_PROGRESS_SAVE_SECONDS
(the loss on a crash is bounded by that) and at least every HEARTBEAT_SECONDS even
when it did not grow (an answer not saved for CHAT_STALE_STREAM_SECONDS belongs to
a dead process). One saver per event loop does this for all its answers: one trip
to a database thread and one transaction per tick, not one per answer. A save
sends only what the text gained since the last one (services.messages_save_progress).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from chat.conversations import services
from chat.db import db_call
from chat.telemetry import metrics

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0  # must stay well below CHAT_STALE_STREAM_SECONDS


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
        """Save every answer that grew or needs its heartbeat; returns how many."""
        now = time.monotonic()
        due: dict[str, tuple[int, str]] = {}
        for message_id, tracked in list(self._tracked.items()):
            length = tracked.answer.length
            if length != tracked.saved_length or now - tracked.saved_at >= HEARTBEAT_SECONDS:
                due[message_id] = _grown(tracked)
                tracked.saved_length, tracked.saved_at = length, now
        if not due:
            return 0
        try:
            await db_call(services.messages_save_progress)(appends=due)
        except Exception:
            metrics.DATABASE_ERRORS.inc()
            logger.exception("progress save of %d answers failed", len(due))
            for message_id in due:  # try them again at the next tick
                if message_id in self._tracked:
                    self._tracked[message_id].saved_length = -1
        return len(due)


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
