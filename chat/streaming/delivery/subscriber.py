"""The catch-up rules of one subscriber of a conversation: pure, no I/O, no Django.

A subscriber (a browser tab's WebSocket, a staff live tail, an HTTP stream)
sees a conversation's answers through the channel layer, where events can come
late, twice, out of order or not at all, and it may join in the middle of an
answer. `Subscriber` takes what happens to it (the history read, `chat.*` events,
a deadline, the result of a database read) and returns what to do: frames to send,
a sync to request from the running answer, a saved message to read, a deadline to
set. The transport carries the actions out and feeds results back; it holds no
rule of its own. Whatever is lost, the text a subscriber emits for an answer (the
history's text, then its chunks) is the saved text, each character once:

- a join mid-answer holds the history back and asks the answer for its text so far
  (a sync); the events that arrive meanwhile wait in a backlog;
- a delta that starts past what the subscriber has is a gap: a sync fills it;
- a sync that never comes (the answer's process died, or finished) falls back to the
  saved text after SYNC_TIMEOUT_SECONDS;
- an `end` whose length is more than the subscriber has reads the rest from the
  database (the answer saves before it announces its end);
- a stream quiet for WATCHDOG_SECONDS reads its saved status: a lost `end`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chat.errors import INTERRUPTED_ERROR, ErrorCode
from chat.streaming.delivery import frames
from chat.streaming.delivery.answer_view import StreamView
from chat.streaming.delivery.chunking import DEFAULT_MAX_CHARS

SYNC_TIMEOUT_SECONDS = 3.0
MAX_BACKLOG = 500  # events held while a sync is awaited, at most (then: the saved text)
WATCHDOG_SECONDS = 5.0
STREAMING = "streaming"
ERROR = "error"
DELETED_ERROR = "The answer was deleted."
LOST_END: dict[str, Any] = {}  # `ending` while the saved end of a lost `end` is read


# --- Actions: what the transport carries out ---------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SendHistory:
    """The history, every message as serialized; the transport adds its framing."""

    messages: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RequestSync:
    """Ask the running answer for its text from `offset` (it replies with `on_sync`):
    to join it mid-answer, or to fill a gap."""

    message_id: str
    offset: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReadMessage:
    """Read the saved message (serialized, or None) and pass it to `on_saved(reason, …)`."""

    message_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class SetDeadline:
    """Call `on_deadline(kind, token)` after `seconds`."""

    kind: str
    seconds: float
    token: int


Action = Send | SendHistory | RequestSync | ReadMessage | SetDeadline

# The rule for each event type a subscriber receives (chat/contract.py).
EVENT_RULES = {
    "chat.message": "on_message",
    "chat.start": "on_start",
    "chat.delta": "on_delta",
    "chat.sync": "on_sync",
    "chat.end": "on_end",
}


# --- The subscriber ----------------------------------------------------------------


@dataclass
class Subscriber:
    mode: str
    max_chars: int = DEFAULT_MAX_CHARS
    stream: StreamView | None = None  # the answer being followed
    held_history: list[dict[str, Any]] | None = None  # a join, waiting for its sync
    syncing: int = 0  # the sync being waited for (0: none)
    backlog: list[dict[str, Any]] = field(default_factory=list)
    ending: dict[str, Any] | None = None  # an `end` waiting for its saved tail
    finished: set[str] = field(default_factory=set)  # answers over: their events are late
    activity: int = 0  # events seen from the stream (the watchdog compares)
    # A transport that shows no history (an HTTP stream) gets a joined answer's text
    # so far as chunks, from this character offset on (None: in the history, as a tab).
    join_offset: int | None = None
    _tokens: int = 0

    # --- Events --------------------------------------------------------------------

    def on_event(self, event: dict[str, Any]) -> list[Action]:
        """Any `chat.*` event from the conversation's group (or a sync reply)."""
        return getattr(self, EVENT_RULES[event["type"]])(event)

    def on_history(self, messages: list[dict[str, Any]]) -> list[Action]:
        """The conversation as saved, read after joining its group."""
        self.finished.update(m["id"] for m in messages if m["status"] != STREAMING)
        live = next((m for m in messages if m["status"] == STREAMING), None)
        if live is None:
            return [SendHistory(messages)]
        # The saved text lags behind the answer: ask it for the text so far.
        self.held_history = messages
        return [*self._follow(live["id"]), *self._request_sync(0, "join")]

    def on_message(self, event: dict[str, Any]) -> list[Action]:
        """A user message saved in the conversation (`chat.message`)."""
        if self.held_history is not None:
            self.backlog.append(event)
            return []
        return [Send(event["frame"])]

    def on_start(self, event: dict[str, Any]) -> list[Action]:
        message_id = event["message_id"]
        if message_id in self.finished or self._stream_of(event) is not None:
            return []  # a duplicate, or the answer this subscriber joined from the history
        if self._waiting() or self.stream is not None:
            return self._after_current(event)
        actions = self._follow(message_id)
        start = frames.start_frame(
            message_id,
            event["model"],
            parent_id=event.get("parent_id"),
            siblings=event.get("siblings"),
        )
        actions.append(Send(start))
        if event.get("offset"):  # it starts with text (a continuation): ask for it
            actions.extend(self._request_sync(0, "continue"))
        return actions

    def on_delta(self, event: dict[str, Any]) -> list[Action]:
        return self._in_order(event, self._apply_delta)

    def on_sync(self, event: dict[str, Any]) -> list[Action]:
        """The answer's text from the offset asked for: fills a join or a gap."""
        stream = self._stream_of(event)
        if stream is None:
            return []
        self.activity += 1
        if not self.syncing:  # late (the deadline passed): only what is new counts
            return self._chunks(stream, stream.accept(event["offset"], event["text"])[0])
        if self.held_history is not None and event["offset"] != 0:
            return []  # a join asks from offset 0: not its reply
        return self._synced(stream, event["offset"], event["text"])

    def on_end(self, event: dict[str, Any]) -> list[Action]:
        return self._in_order(event, self._apply_end)

    def on_deadline(self, kind: str, token: int) -> list[Action]:
        stream = self.stream
        if stream is None:
            return []
        if kind == "sync":
            if self.syncing != token:
                return []  # the sync arrived in time
            return [ReadMessage(stream.message_id, "sync")]
        # The watchdog: quiet since it was set, and not waiting for anything else?
        if self.syncing or token != self.activity:
            return [self._watchdog()]
        return [ReadMessage(stream.message_id, "check")]

    def on_saved(self, reason: str, saved: dict[str, Any] | None) -> list[Action]:
        """The result of a ReadMessage: the message as saved now, or None if gone."""
        stream = self.stream
        if stream is None or (saved is not None and saved["id"] != stream.message_id):
            return []
        if reason == "end" and self.ending is not None and self.ending is not LOST_END:
            ending, self.ending = self.ending, None
            return self._end(stream, _content(saved)[stream.length :], ending)
        if reason == "lost_end" and self.ending is LOST_END:
            self.ending = None
            return self._end(stream, _content(saved)[stream.length :], ending_of(saved))
        if reason == "sync" and self.syncing:
            return self._sync_from_saved(stream, saved)
        if reason == "check" and not self.syncing:
            if saved is not None and saved["status"] == STREAMING:
                return [self._watchdog()]
            return self._end(stream, _content(saved)[stream.length :], ending_of(saved))
        return []

    def on_replay(self, saved: dict[str, Any], offset: int) -> list[Action]:
        """An answer already over, for a transport that resumes it at `offset` (an HTTP
        stream whose client reconnects): the rest of its saved text as chunks, then
        `error` and `end`."""
        stream = StreamView(saved["id"], self.mode, length=offset, max_chars=self.max_chars)
        return self._end(stream, _content(saved)[offset:], ending_of(saved))

    def set_mode(self, mode: str) -> list[Action]:
        """Chunk in another mode from now on; text held by the old mode goes out now."""
        self.mode = mode
        if self.stream is None:
            return []
        return self._chunks(self.stream, self.stream.set_mode(mode))

    # --- Rules ---------------------------------------------------------------------

    def _waiting(self) -> bool:
        """Events wait in the backlog while a sync or an end's saved tail is awaited."""
        return bool(self.syncing) or self.ending is not None

    def _in_order(
        self, event: dict[str, Any], apply: Callable[[StreamView, dict[str, Any]], list[Action]]
    ) -> list[Action]:
        """Apply a delta or an end of the answer followed now, unless events wait for a
        sync or a saved tail (then it waits too); another answer's, see `_unseen`."""
        stream = self._stream_of(event)
        if stream is None:
            return self._unseen(event)
        self.activity += 1
        if self._waiting():
            return self._hold(event)
        return apply(stream, event)

    def _hold(self, event: dict[str, Any]) -> list[Action]:
        """Keep an event until the sync (or saved tail) it waits for arrives. A backlog
        that reaches MAX_BACKLOG does not wait for the sync's deadline: the saved text
        is read at once, and the backlog replayed on top of it."""
        self.backlog.append(event)
        if self.syncing and self.stream is not None and len(self.backlog) >= MAX_BACKLOG:
            return [ReadMessage(self.stream.message_id, "sync")]
        return []

    def _apply_delta(self, stream: StreamView, event: dict[str, Any]) -> list[Action]:
        actions: list[Action] = []
        offset = event["offset"]
        for delta in event["deltas"]:
            chunks, gap = stream.accept(offset, delta)
            if gap:  # an event was lost: ask the answer for the missing text
                self.backlog.append(event)
                actions.extend(self._request_sync(stream.length, "gap"))
                return actions
            actions.extend(self._chunks(stream, chunks))
            offset += len(delta)
        return actions

    def _apply_end(self, stream: StreamView, event: dict[str, Any]) -> list[Action]:
        if stream.length < event["length"]:  # deltas were lost: the saved text has them
            self.ending = event
            return [ReadMessage(stream.message_id, "end")]
        return self._end(stream, "", event)

    def _unseen(self, event: dict[str, Any]) -> list[Action]:
        """An event of an answer whose `start` this subscriber missed: join it."""
        message_id = event["message_id"]
        if message_id in self.finished:
            return []  # late, or a duplicate
        if self._waiting() or self.stream is not None:
            return self._after_current(event)
        actions = self._follow(message_id)
        actions.append(Send(frames.start_frame(message_id, "")))
        if event["type"] == "chat.end":  # all of it is saved by now
            self.ending = event
            return [*actions, ReadMessage(message_id, "end")]
        self.backlog.append(event)
        return actions + self._request_sync(0, "gap")

    def _after_current(self, event: dict[str, Any]) -> list[Action]:
        """An event of another answer: it waits until the current one has ended (a new
        answer starts only once the last is saved, so one that still streams here
        lost its `end`: finish it from the saved text)."""
        self.backlog.append(event)
        if self._waiting() or self.stream is None:
            return []
        self.ending = LOST_END
        return [ReadMessage(self.stream.message_id, "lost_end")]

    def _follow(self, message_id: str) -> list[Action]:
        self.stream = StreamView(message_id, self.mode, max_chars=self.max_chars)
        self.ending = None
        return [self._watchdog()]

    def _stream_of(self, event: dict[str, Any]) -> StreamView | None:
        stream = self.stream
        return stream if stream is not None and stream.message_id == event["message_id"] else None

    def _request_sync(self, offset: int, reason: str) -> list[Action]:
        assert self.stream is not None
        self._tokens += 1
        self.syncing = self._tokens
        return [
            RequestSync(self.stream.message_id, offset, reason),
            SetDeadline("sync", SYNC_TIMEOUT_SECONDS, self.syncing),
        ]

    def _watchdog(self) -> SetDeadline:
        return SetDeadline("check", WATCHDOG_SECONDS, self.activity)

    def _sync_from_saved(self, stream: StreamView, saved: dict[str, Any] | None) -> list[Action]:
        """No reply to a sync: the saved text is the best there is."""
        if self.held_history is not None and (saved is None or saved["status"] != STREAMING):
            # Over (or gone) meanwhile: the history tells all.
            messages, self.held_history = self.held_history, None
            self.stream, self.backlog, self.syncing = None, [], 0
            self.finished.add(stream.message_id)
            history = [saved if m["id"] == stream.message_id else m for m in messages]
            return [SendHistory([m for m in history if m is not None])]
        return self._synced(stream, 0, _content(saved))

    def _synced(self, stream: StreamView, offset: int, text: str) -> list[Action]:
        """The answer's text from `offset` (a sync reply, or the saved text): it fills the
        join (the held history goes out with it) or the gap; then what waited."""
        self.syncing = 0
        if self.held_history is not None:  # a join: offset 0
            messages, self.held_history = self.held_history, None
            if self.join_offset is None:
                stream.length = len(text)
                actions: list[Action] = [SendHistory(_with_text(messages, stream.message_id, text))]
            else:  # the text so far as chunks, from where the stream resumes
                # The client has `join_offset` characters even when the text read is
                # shorter (the saved text lags): none of them goes out again.
                stream.length = self.join_offset
                actions = [SendHistory(messages)]
                actions.extend(self._chunks(stream, stream.accept(0, text)[0]))
        else:
            actions = self._chunks(stream, stream.accept(offset, text)[0])
        return actions + self._replay_backlog()

    def _replay_backlog(self) -> list[Action]:
        """The events that arrived while a sync was awaited, in order."""
        backlog, self.backlog = self.backlog, []
        actions: list[Action] = []
        for index, event in enumerate(backlog):
            actions.extend(self.on_event(event))
            if self._waiting():  # waiting again: keep the rest
                self.backlog = backlog[index + 1 :] + self.backlog
                break
        return actions

    def _chunks(self, stream: StreamView, chunks: list[str]) -> list[Action]:
        return [
            Send(frames.chunk_frame(stream.message_id, seq, text))
            for seq, text in stream.number(chunks)
        ]

    def _end(self, stream: StreamView, tail: str, ending: dict[str, Any]) -> list[Action]:
        """The rest of the text, the chunker's remainder, then `error` and `end`."""
        actions: list[Action] = []
        if tail:
            actions.extend(self._chunks(stream, stream.accept(stream.length, tail)[0]))
        actions.extend(self._chunks(stream, stream.finish()))
        self.stream, self.ending = None, None
        self.finished.add(stream.message_id)
        if ending["status"] == ERROR:
            code = ending["error_code"] or ErrorCode.MODEL_ERROR
            error = frames.error_frame(code, ending["error"], message_id=stream.message_id)
            actions.append(Send(error))
        actions.append(Send(frames.end_frame(stream.message_id, ending)))
        return actions + self._replay_backlog()


def _content(saved: dict[str, Any] | None) -> str:
    return saved["content"] if saved is not None else ""


def _with_text(messages: list[dict[str, Any]], message_id: str, text: str) -> list[dict[str, Any]]:
    return [{**m, "content": text} if m["id"] == message_id else m for m in messages]


def ending_of(saved: dict[str, Any] | None) -> dict[str, Any]:
    """A `chat.end` as the database tells it (the watchdog found the answer over)."""
    if saved is None:  # deleted meanwhile
        saved = {"status": ERROR, "error": DELETED_ERROR, "error_code": ErrorCode.NOT_FOUND}
    elif saved["status"] == STREAMING:  # a newer answer started: this one cannot be running
        saved = {"status": ERROR, "error": INTERRUPTED_ERROR, "error_code": ErrorCode.INTERRUPTED}
    return {
        "status": saved["status"],
        "usage": saved.get("usage"),
        "ttft_ms": saved.get("ttft_ms"),
        "duration_ms": saved.get("duration_ms"),
        "error": saved.get("error", ""),
        "error_code": saved.get("error_code", ""),
        "finish_reason": saved.get("finish_reason", ""),
    }
