"""Voice mode: a tab's answers spoken by the server's speech engine, piece by piece.

One more subscriber of the answer stream, on the tab's side: every `chunk` frame the
tab sends is fed to the voice's own chunker (clause or sentence, what a voice says
in one breath, whatever the tab shows; in clause mode an answer's first piece may end
at a space past a few words, so the first sound comes sooner: `SpeechChunker`), and
each piece it releases is synthesised in order, in a thread (speech/service.py), and
sent as an `audio` frame with the signed address of its WAV (speech/links.py). The
text never waits for it: `heard()` only queues. The cache makes a second tab's piece
free: the engine is asked once.

Barge-in: `hush()` (a new message, a stop, the client's `hush` when the user types)
drops what is queued and keeps the answers so far silent. An engine that fails, or
a spent allowance, ends that answer's voice with one `voice_notice`; the text goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_noop

from chat.errors import ErrorCode, Refusal
from chat.speech.base import SpeechError
from chat.speech.factory import shared_engine
from chat.speech.links import audio_url
from chat.speech.service import clip_for_user
from chat.speech.text import speakable
from chat.streaming.delivery import frames
from chat.streaming.delivery.chunking import SpeechChunker
from chat.streaming.delivery.frames import Frame

logger = logging.getLogger(__name__)

FAILED = gettext_noop("The voice could not speak this answer; its text still comes.")


@dataclass(frozen=True)
class Piece:
    message_id: str
    seq: int  # its place among the answer's pieces, from 0
    text: str


class Voice:
    """Speaks the answers a tab shows, for `user_id`, through `send`."""

    def __init__(self, user_id: int, send: Callable[[Frame], Awaitable[None]]) -> None:
        self.user_id = user_id
        self.send = send
        self.on = False
        self.mode = "clause"
        self.voice: str | None = None
        self._chunkers: dict[str, SpeechChunker] = {}  # answers being spoken, by message id
        self._next: dict[str, int] = {}  # each answer's next piece number
        self._silent: set[str] = set()  # answers not to be spoken (any more)
        self._queue: deque[Piece] = deque()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._hushes = 0  # a piece synthesised across a hush is not sent

    def configure(self, *, on: bool, mode: str, voice: str | None) -> None:
        if not on:
            self.hush()
        self.on, self.mode, self.voice = on, mode, voice

    def heard(self, frame: Frame) -> None:
        """A frame the tab sent: its answer's text goes to the voice. Never waits."""
        if not self.on or frame.get("type") not in ("chunk", "end"):
            return
        message_id = str(frame["message_id"])
        if message_id in self._silent:
            return
        if frame["type"] == "chunk":
            chunker = self._chunkers.get(message_id)
            if chunker is None:
                chunker = self._chunkers[message_id] = SpeechChunker(
                    self.mode, settings.CHAT_CHUNK_MAX_CHARS
                )
            self._say(message_id, chunker.feed(str(frame["text"])))
        elif (chunker := self._chunkers.pop(message_id, None)) is not None:
            self._say(message_id, chunker.flush())
            self._next.pop(message_id, None)

    def hush(self) -> None:
        """Nothing queued is said, nor the rest of the answers under way."""
        self._queue.clear()
        self._silent.update(self._chunkers)
        self._chunkers.clear()
        self._hushes += 1

    def close(self) -> None:
        self.hush()
        if self._worker is not None:
            self._worker.cancel()

    def _say(self, message_id: str, texts: list[str]) -> None:
        for text in texts:
            if not speakable(text):  # a code fence, a table rule: nothing to hear
                continue
            seq = self._next.get(message_id, 0)
            self._next[message_id] = seq + 1
            self._queue.append(Piece(message_id, seq, text))
        if self._queue:
            self._wake.set()
            if self._worker is None or self._worker.done():
                self._worker = asyncio.get_running_loop().create_task(
                    self._speak_all(), name=f"voice-{self.user_id}"
                )

    async def _speak_all(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            piece = self._queue.popleft()
            if piece.message_id not in self._silent:
                await self._speak(piece)

    async def _speak(self, piece: Piece) -> None:
        hushes = self._hushes
        try:
            key = await clip_for_user(
                user_id=self.user_id, text=piece.text, engine=shared_engine(), voice=self.voice
            )
        except Refusal as exc:  # today's allowance is spent
            return await self._give_up(piece, exc.code, exc.message)
        except SpeechError as exc:
            return await self._give_up(piece, ErrorCode.SPEECH_FAILED, str(exc))
        except Exception:
            logger.exception("voice of %s failed", piece.message_id)
            return await self._give_up(piece, ErrorCode.SPEECH_FAILED, FAILED)
        if hushes == self._hushes and piece.message_id not in self._silent:
            url = audio_url(self.user_id, key)
            await self.send(frames.audio_frame(piece.message_id, piece.seq, piece.text, url))

    async def _give_up(self, piece: Piece, code: ErrorCode, message: str) -> None:
        """The rest of this answer goes unspoken; the user is told once, why."""
        self._silent.add(piece.message_id)
        self._chunkers.pop(piece.message_id, None)
        await self.send(frames.voice_notice_frame(piece.message_id, code, message))
