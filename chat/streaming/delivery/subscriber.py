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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Final, Literal, TypeAlias, TypeGuard, TypeVar

from django.utils.translation import gettext_noop

from chat.contract import ChatDelta, ChatEnd, ChatMessage, ChatStart, ChatSync
from chat.errors import INTERRUPTED_ERROR, ErrorCode
from chat.streaming.delivery import frames
from chat.streaming.delivery.answer_view import StreamView
from chat.streaming.delivery.chunking import DEFAULT_MAX_CHARS
from chat.streaming.delivery.frames import Ending, Frame

if TYPE_CHECKING:  # this module stays importable without Django
    from chat.conversations.serializers import MessageDict

SYNC_TIMEOUT_SECONDS = 3.0
MAX_BACKLOG = 500  # events held while a sync is awaited, at most (then: the saved text)
# A quiet stream reads its row this often: an answer whose process died ends for the
# tab within CHAT_STALE_STREAM_SECONDS and one of these (10 + 3 s shipped).
WATCHDOG_SECONDS = 3.0
STREAMING = "streaming"
ERROR = "error"
DELETED_ERROR = gettext_noop("The answer was deleted.")

# The events of an answer, and those a subscriber receives (chat/contract.py).
AnswerEvent: TypeAlias = ChatStart | ChatDelta | ChatSync | ChatEnd
StreamEvent: TypeAlias = ChatMessage | AnswerEvent
_InOrder = TypeVar("_InOrder", ChatDelta, ChatEnd)


class _Lost(Enum):
    """A marker, not an ending."""

    END = "lost_end"


LOST_END: Final = _Lost.END  # `ending` while the saved end of a lost `end` is read


class Deadline(StrEnum):
    """What a deadline checks when it passes."""

    SYNC = "sync"  # the sync asked for came (else: the saved text)
    CHECK = "check"  # the watchdog: the stream was not quiet (else: its saved status)


class SyncReason(StrEnum):
    """Why a sync is asked for."""

    JOIN = "join"  # a join mid-answer: its text so far
    CONTINUE = "continue"  # a continuation: the text it starts with
    GAP = "gap"  # a delta was lost


class Read(StrEnum):
    """Why a saved message is read (`on_saved` takes it back)."""

    SYNC = "sync"  # no reply to a sync
    END = "end"  # an `end` told of more text than arrived
    LOST_END = "lost_end"  # another answer started: this one's `end` was lost
    CHECK = "check"  # the watchdog found the stream quiet


# --- Actions: what the transport carries out ---------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    frame: Frame


@dataclass(frozen=True, slots=True)
class SendHistory:
    """The history, every message as serialized; the transport adds its framing."""

    messages: list[MessageDict]


@dataclass(frozen=True, slots=True)
class RequestSync:
    """Ask the running answer for its text from `offset` (it replies with `on_sync`):
    to join it mid-answer, or to fill a gap."""

    message_id: str
    offset: int
    reason: SyncReason


@dataclass(frozen=True, slots=True)
class ReadMessage:
    """Read the saved message (serialized, or None) and pass it to `on_saved(reason, …)`."""

    message_id: str
    reason: Read


@dataclass(frozen=True, slots=True)
class SetDeadline:
    """Call `on_deadline(kind, token)` after `seconds`."""

    kind: Deadline
    seconds: float
    token: int


Action = Send | SendHistory | RequestSync | ReadMessage | SetDeadline

# The types of the events a subscriber receives (`on_event` has a rule for each).
EVENT_TYPES = frozenset({"chat.message", "chat.start", "chat.delta", "chat.sync", "chat.end"})


def is_stream_event(event: Mapping[str, object]) -> TypeGuard[StreamEvent]:
    """Whether a message of the channel layer is one a subscriber receives."""
    return event.get("type") in EVENT_TYPES


# --- The subscriber ----------------------------------------------------------------


@dataclass
class Subscriber:
    mode: str
    max_chars: int = DEFAULT_MAX_CHARS
    stream: StreamView | None = None  # the answer being followed
    held_history: list[MessageDict] | None = None  # a join, waiting for its sync
    syncing: int = 0  # the sync being waited for (0: none)
    backlog: list[StreamEvent] = field(default_factory=list)
    # An `end` waiting for its saved tail (LOST_END: the end of an answer that lost it).
    ending: Ending | Literal[_Lost.END] | None = None
    finished: set[str] = field(default_factory=set)  # answers over: their events are late
    activity: int = 0  # events seen from the stream (the watchdog compares)
    # A transport that shows no history (an HTTP stream) gets a joined answer's text
    # so far as chunks, from this character offset on (None: in the history, as a tab).
    join_offset: int | None = None
    _tokens: int = 0

    # --- Events --------------------------------------------------------------------

    def on_event(self, event: StreamEvent) -> list[Action]:
        """Any `chat.*` event from the conversation's group (or a sync reply)."""
        if event["type"] == "chat.message":
            return self.on_message(event)
        if event["type"] == "chat.start":
            return self.on_start(event)
        if event["type"] == "chat.delta":
            return self.on_delta(event)
        if event["type"] == "chat.sync":
            return self.on_sync(event)
        if event["type"] == "chat.end":
            return self.on_end(event)
        raise KeyError(event["type"])

    def on_history(self, messages: list[MessageDict]) -> list[Action]:
        """The conversation as saved, read after joining its group."""
        self.finished.update(m["id"] for m in messages if m["status"] != STREAMING)
        live = next((m for m in messages if m["status"] == STREAMING), None)
        if live is None:
            return [SendHistory(messages)]
        # The saved text lags behind the answer: ask it for the text so far.
        self.held_history = messages
        return [*self._follow(live["id"]), *self._request_sync(0, SyncReason.JOIN)]

    def on_message(self, event: ChatMessage) -> list[Action]:
        """A user message saved in the conversation (`chat.message`)."""
        if self.held_history is not None:
            self.backlog.append(event)
            return []
        return [Send(event["frame"])]

    def on_start(self, event: ChatStart) -> list[Action]:
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
            actions.extend(self._request_sync(0, SyncReason.CONTINUE))
        return actions

    def on_delta(self, event: ChatDelta) -> list[Action]:
        return self._in_order(event, self._apply_delta)

    def on_sync(self, event: ChatSync) -> list[Action]:
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

    def on_end(self, event: ChatEnd) -> list[Action]:
        return self._in_order(event, self._apply_end)

    def on_deadline(self, kind: Deadline, token: int) -> list[Action]:
        stream = self.stream
        if stream is None:
            return []
        if kind == Deadline.SYNC:
            if self.syncing != token:
                return []  # the sync arrived in time
            return [ReadMessage(stream.message_id, Read.SYNC)]
        # The watchdog: quiet since it was set, and not waiting for anything else?
        if self.syncing or token != self.activity:
            return [self._watchdog()]
        return [ReadMessage(stream.message_id, Read.CHECK)]

    def on_saved(self, reason: Read, saved: MessageDict | None) -> list[Action]:
        """The result of a ReadMessage: the message as saved now, or None if gone."""
        stream = self.stream
        if stream is None or (saved is not None and saved["id"] != stream.message_id):
            return []
        if reason == Read.END and self.ending is not None and self.ending is not LOST_END:
            ending, self.ending = self.ending, None
            return self._end(stream, _content(saved)[stream.length :], ending)
        if reason == Read.LOST_END and self.ending is LOST_END:
            self.ending = None
            return self._end(stream, _content(saved)[stream.length :], ending_of(saved))
        if reason == Read.SYNC and self.syncing:
            return self._sync_from_saved(stream, saved)
        if reason == Read.CHECK and not self.syncing:
            if saved is not None and saved["status"] == STREAMING:
                return [self._watchdog()]
            return self._end(stream, _content(saved)[stream.length :], ending_of(saved))
        return []

    def on_replay(self, saved: MessageDict, offset: int) -> list[Action]:
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
        self, event: _InOrder, apply: Callable[[StreamView, _InOrder], list[Action]]
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

    def _hold(self, event: StreamEvent) -> list[Action]:
        """Keep an event until the sync (or saved tail) it waits for arrives. A backlog
        that reaches MAX_BACKLOG does not wait for the sync's deadline: the saved text
        is read at once, and the backlog replayed on top of it."""
        self.backlog.append(event)
        if self.syncing and self.stream is not None and len(self.backlog) >= MAX_BACKLOG:
            return [ReadMessage(self.stream.message_id, Read.SYNC)]
        return []

    def _apply_delta(self, stream: StreamView, event: ChatDelta) -> list[Action]:
        actions: list[Action] = []
        offset = event["offset"]
        for delta in event["deltas"]:
            chunks, gap = stream.accept(offset, delta)
            if gap:  # an event was lost: ask the answer for the missing text
                self.backlog.append(event)
                actions.extend(self._request_sync(stream.length, SyncReason.GAP))
                return actions
            actions.extend(self._chunks(stream, chunks))
            offset += len(delta)
        return actions

    def _apply_end(self, stream: StreamView, event: ChatEnd) -> list[Action]:
        if stream.length < event["length"]:  # deltas were lost: the saved text has them
            self.ending = event
            return [ReadMessage(stream.message_id, Read.END)]
        return self._end(stream, "", event)

    def _unseen(self, event: ChatDelta | ChatEnd) -> list[Action]:
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
            return [*actions, ReadMessage(message_id, Read.END)]
        self.backlog.append(event)
        return actions + self._request_sync(0, SyncReason.GAP)

    def _after_current(self, event: AnswerEvent) -> list[Action]:
        """An event of another answer: it waits until the current one has ended (a new
        answer starts only once the last is saved, so one that still streams here
        lost its `end`: finish it from the saved text)."""
        self.backlog.append(event)
        if self._waiting() or self.stream is None:
            return []
        self.ending = LOST_END
        return [ReadMessage(self.stream.message_id, Read.LOST_END)]

    def _follow(self, message_id: str) -> list[Action]:
        self.stream = StreamView(message_id, self.mode, max_chars=self.max_chars)
        self.ending = None
        return [self._watchdog()]

    def _stream_of(self, event: AnswerEvent) -> StreamView | None:
        stream = self.stream
        return stream if stream is not None and stream.message_id == event["message_id"] else None

    def _request_sync(self, offset: int, reason: SyncReason) -> list[Action]:
        assert self.stream is not None
        self._tokens += 1
        self.syncing = self._tokens
        return [
            RequestSync(self.stream.message_id, offset, reason),
            SetDeadline(Deadline.SYNC, SYNC_TIMEOUT_SECONDS, self.syncing),
        ]

    def _watchdog(self) -> SetDeadline:
        return SetDeadline(Deadline.CHECK, WATCHDOG_SECONDS, self.activity)

    def _sync_from_saved(self, stream: StreamView, saved: MessageDict | None) -> list[Action]:
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

    def _end(self, stream: StreamView, tail: str, ending: Ending) -> list[Action]:
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


def _content(saved: MessageDict | None) -> str:
    return saved["content"] if saved is not None else ""


def _with_text(messages: list[MessageDict], message_id: str, text: str) -> list[MessageDict]:
    return [{**m, "content": text} if m["id"] == message_id else m for m in messages]


def ending_of(saved: MessageDict | None) -> Ending:
    """A `chat.end` as the database tells it (the watchdog found the answer over)."""
    if saved is None:  # deleted meanwhile
        return _failed(DELETED_ERROR, ErrorCode.NOT_FOUND)
    if saved["status"] == STREAMING:  # a newer answer started: this one cannot be running
        return _failed(INTERRUPTED_ERROR, ErrorCode.INTERRUPTED)
    return {
        "status": saved["status"],
        "usage": saved.get("usage"),
        "ttft_ms": saved.get("ttft_ms"),
        "duration_ms": saved.get("duration_ms"),
        "error": saved.get("error", ""),
        "error_code": saved.get("error_code", ""),
        "finish_reason": saved.get("finish_reason", ""),
    }


def _failed(error: str, code: ErrorCode) -> Ending:
    """The ending of an answer that is not there to tell its own."""
    return {
        "status": ERROR,
        "usage": None,
        "ttft_ms": None,
        "duration_ms": None,
        "error": error,
        "error_code": code,
        "finish_reason": "",
    }
