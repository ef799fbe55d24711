"""The catch-up rules (chat/subscriber.py), on event sequences and under a property:
whatever the layer loses, repeats or reorders, and wherever a subscriber joins, the
text it emits for an answer is the saved text, each character once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat import contract
from chat.streaming.delivery.chunking import MODES
from chat.streaming.delivery.subscriber import (
    ReadMessage,
    RequestSync,
    Send,
    SendHistory,
    SetDeadline,
    Subscriber,
)

ID = "answer-1"
USAGE = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}


def saved_message(text: str, status: str = "streaming", **extra: Any) -> dict[str, Any]:
    return {
        "id": ID,
        "role": "assistant",
        "content": text,
        "status": status,
        "usage": USAGE if status != "streaming" else None,
        "ttft_ms": 5,
        "duration_ms": 9,
        "error": "",
        "error_code": "",
        **extra,
    }


def end_event(text: str, status: str = "complete", **extra: Any) -> contract.ChatEnd:
    fields = dict(status=status, length=len(text), usage=USAGE, ttft_ms=5, duration_ms=9)
    blank = {"error_code": "", "error": "", "finish_reason": ""}
    return contract.chat_end(ID, **{**blank, **fields, **extra})


@dataclass
class Tab:
    """A subscriber with a transport that records what it is asked to do."""

    sub: Subscriber
    frames: list[dict[str, Any]] = field(default_factory=list)
    histories: list[list[dict[str, Any]]] = field(default_factory=list)
    syncs: list[RequestSync] = field(default_factory=list)
    reads: list[ReadMessage] = field(default_factory=list)
    deadlines: dict[str, SetDeadline] = field(default_factory=dict)

    def run(self, actions: list[Any], saved: dict[str, Any] | None = None) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.frames.append(action.frame)
            elif isinstance(action, SendHistory):
                self.histories.append(action.messages)
            elif isinstance(action, RequestSync):
                self.syncs.append(action)
            elif isinstance(action, ReadMessage):
                self.reads.append(action)
                if saved is not None:
                    self.run(self.sub.on_saved(action.reason, saved), saved)
            elif isinstance(action, SetDeadline):
                self.deadlines[action.kind] = action

    def fire(self, kind: str, saved: dict[str, Any] | None = None) -> None:
        deadline = self.deadlines.pop(kind)
        self.run(self.sub.on_deadline(kind, deadline.token), saved)

    def text(self) -> str:
        """The answer as this tab shows it: its history text, then its chunks."""
        shown = ""
        if self.histories:
            shown = next((m["content"] for m in self.histories[-1] if m["id"] == ID), "")
        return shown + "".join(f["text"] for f in self.frames if f["type"] == "chunk")

    def kinds(self) -> list[str]:
        return [f["type"] for f in self.frames]


def tab(mode: str = "token") -> Tab:
    return Tab(Subscriber(mode))


def delta(offset: int, *deltas: str) -> contract.ChatDelta:
    return contract.chat_delta(ID, offset, list(deltas))


# --- Event sequences ---------------------------------------------------------------


def test_a_whole_answer_from_its_start() -> None:
    t = tab()
    t.run(t.sub.on_history([]))
    t.run(t.sub.on_start(contract.chat_start(ID, "m")))
    t.run(t.sub.on_delta(delta(0, "Hel", "lo")))
    t.run(t.sub.on_delta(delta(5, " you")))
    t.run(t.sub.on_end(end_event("Hello you")))
    assert t.kinds() == ["start", "chunk", "chunk", "chunk", "end"]
    assert [f["seq"] for f in t.frames if f["type"] == "chunk"] == [0, 1, 2]
    assert t.text() == "Hello you" and t.sub.stream is None and not t.syncs


def test_joining_mid_answer_holds_the_history_until_the_sync() -> None:
    t = tab()
    t.run(t.sub.on_history([saved_message("Hel")]))
    assert t.histories == [] and t.syncs[0].offset == 0 and t.syncs[0].reason == "join"
    t.run(t.sub.on_delta(delta(5, " you")))  # waits for the sync
    t.run(t.sub.on_sync(contract.chat_sync(ID, 0, "Hello")))
    t.run(t.sub.on_end(end_event("Hello you")))
    assert t.histories[0][0]["content"] == "Hello"
    assert t.text() == "Hello you" and t.kinds() == ["chunk", "end"]


def test_a_join_waits_for_a_reply_from_offset_zero() -> None:
    t = tab()
    t.run(t.sub.on_history([saved_message("He")]))
    t.run(t.sub.on_sync(contract.chat_sync(ID, 2, "llo")))  # not the join's reply
    assert t.histories == [] and t.sub.syncing
    t.run(t.sub.on_sync(contract.chat_sync(ID, 0, "Hello")))
    assert t.text() == "Hello" and not t.sub.syncing


def test_a_start_published_before_the_history_read_is_not_a_second_answer() -> None:
    t = tab()
    t.run(t.sub.on_history([saved_message("")]))
    t.run(t.sub.on_start(contract.chat_start(ID, "m")))
    t.run(t.sub.on_sync(contract.chat_sync(ID, 0, "Hi")))
    t.run(t.sub.on_delta(delta(0, "Hi")))
    t.run(t.sub.on_delta(delta(2, "!")))
    t.run(t.sub.on_end(end_event("Hi!")))
    assert t.text() == "Hi!" and t.kinds() == ["chunk", "end"]


def test_a_gap_asks_for_the_missing_text_and_replays_what_waited() -> None:
    t = tab()
    t.run(t.sub.on_start(contract.chat_start(ID, "m")))
    t.run(t.sub.on_delta(delta(0, "ab")))
    t.run(t.sub.on_delta(delta(4, "ef")))  # "cd" was lost
    assert [(s.offset, s.reason) for s in t.syncs] == [(2, "gap")]
    t.run(t.sub.on_delta(delta(6, "g")))
    t.run(t.sub.on_sync(contract.chat_sync(ID, 2, "cdef")))
    assert t.text() == "abcdefg"


def test_duplicated_and_reordered_deltas_are_shown_once() -> None:
    t = tab()
    t.run(t.sub.on_start(contract.chat_start(ID, "m")))
    t.run(t.sub.on_delta(delta(0, "ab")))
    t.run(t.sub.on_delta(delta(0, "ab")))
    t.run(t.sub.on_delta(delta(2, "cd")))
    t.run(t.sub.on_delta(delta(1, "bc")))
    t.run(t.sub.on_end(end_event("abcd")))
    assert t.text() == "abcd" and t.kinds().count("end") == 1 and not t.syncs


def test_an_end_longer_than_the_text_reads_the_saved_tail() -> None:
    t = tab()
    t.run(t.sub.on_start(contract.chat_start(ID, "m")))
    t.run(t.sub.on_delta(delta(0, "ab")))
    t.run(t.sub.on_end(end_event("abcd")), saved=saved_message("abcd", "complete"))
    assert [r.reason for r in t.reads] == ["end"]
    assert t.text() == "abcd" and t.kinds()[-1] == "end"


def test_a_sync_that_never_comes_falls_back_to_the_saved_text() -> None:
    t = tab()
    t.run(t.sub.on_history([saved_message("He")]))
    t.run(t.sub.on_delta(delta(5, "!")))
    t.fire("sync", saved=saved_message("Hello"))
    assert t.histories[0][0]["content"] == "Hello"
    assert t.text() == "Hello!"
    t.run(t.sub.on_sync(contract.chat_sync(ID, 0, "Hello!")))  # late: nothing new
    assert t.text() == "Hello!"


def test_a_sync_timeout_after_the_answer_ended_shows_the_saved_answer() -> None:
    t = tab()
    t.run(t.sub.on_history([saved_message("He")]))
    t.fire("sync", saved=saved_message("Hello", "complete"))
    assert t.histories[0][0]["status"] == "complete" and t.text() == "Hello"
    assert t.sub.stream is None
    t.run(t.sub.on_delta(delta(0, "Hello")))  # late events of an answer that is over
    t.run(t.sub.on_end(end_event("Hello")))
    assert t.text() == "Hello" and t.frames == []


def test_a_sync_that_arrives_in_time_disarms_its_deadline() -> None:
    t = tab()
    t.run(t.sub.on_history([saved_message("")]))
    t.run(t.sub.on_sync(contract.chat_sync(ID, 0, "Hi")))
    t.fire("sync", saved=saved_message("Hi"))
    assert t.reads == [] and t.text() == "Hi"


def test_the_watchdog_ends_a_stream_whose_end_was_lost() -> None:
    t = tab("sentence")
    t.run(t.sub.on_start(contract.chat_start(ID, "m")))
    t.run(t.sub.on_delta(delta(0, "One. Tw")))
    t.fire("check", saved=saved_message("One. Two", "streaming"))  # was active: re-armed
    assert t.reads == [] and "check" in t.deadlines
    t.fire("check", saved=saved_message("One. Two", "streaming"))  # quiet but running
    assert [r.reason for r in t.reads] == ["check"] and "check" in t.deadlines
    t.fire(
        "check",
        saved=saved_message("One. Two", "error", error="boom", error_code="timeout"),
    )
    assert t.text() == "One. Two"
    error, end = t.frames[-2:]
    assert error == {"type": "error", "code": "timeout", "message": "boom", "message_id": ID}
    assert end["type"] == "end" and end["status"] == "error"


def test_a_missed_start_joins_the_answer_from_its_first_delta() -> None:
    t = tab()
    t.run(t.sub.on_history([]))
    t.run(t.sub.on_delta(delta(3, "def")))
    assert t.kinds() == ["start"] and t.syncs[0].offset == 0
    t.run(t.sub.on_sync(contract.chat_sync(ID, 0, "abcdef")))
    t.run(t.sub.on_end(end_event("abcdef")))
    assert t.text() == "abcdef" and t.kinds()[-1] == "end"


def test_a_new_answer_first_ends_one_whose_end_was_lost() -> None:
    t = tab()
    t.run(t.sub.on_start(contract.chat_start(ID, "m")))
    t.run(t.sub.on_delta(delta(0, "ab")))
    second = contract.chat_start("answer-2", "m")
    t.run(t.sub.on_start(second), saved=saved_message("abc", "complete"))
    assert [r.reason for r in t.reads] == ["lost_end"]
    assert t.kinds() == ["start", "chunk", "chunk", "end", "start"]
    assert t.text() == "abc" and t.sub.stream.message_id == "answer-2"


def test_a_user_message_waits_behind_a_held_history() -> None:
    t = tab()
    t.run(t.sub.on_history([saved_message("")]))
    t.run(t.sub.on_message(contract.chat_message({"type": "message", "id": "u2"})))
    assert t.frames == []
    t.run(t.sub.on_sync(contract.chat_sync(ID, 0, "x")))
    assert t.histories and t.frames == [{"type": "message", "id": "u2"}]


@pytest.mark.parametrize("switch_at", range(0, 12))
def test_a_mode_change_mid_answer_loses_nothing_and_applies_from_then(switch_at: int) -> None:
    text = "First one. Second, with a clause\nthird line. End"
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
    t = tab("sentence")
    t.run(t.sub.on_start(contract.chat_start(ID, "m")))
    offset = 0
    for index, piece in enumerate(pieces):
        if index == switch_at:
            sentences = len(t.frames)
            t.run(t.sub.set_mode("token"))  # the text sentence mode held goes out now
            before = len(t.frames)
        t.run(t.sub.on_delta(delta(offset, piece)))
        offset += len(piece)
    t.run(t.sub.on_end(end_event(text)))
    assert t.text() == text
    # In token mode every delta after the switch goes out as it came.
    assert [f["text"] for f in t.frames[before:] if f["type"] == "chunk"] == pieces[switch_at:]
    # Before it, sentence mode sent whole sentences only.
    assert all(
        f["text"].endswith((". ", "\n")) for f in t.frames[:sentences] if f["type"] == "chunk"
    )
    assert len(t.frames) - before == len(pieces) - switch_at + 1  # and the end


# --- The property --------------------------------------------------------------------


@dataclass
class World:
    """One answer streaming to one subscriber through a layer that loses, repeats and
    reorders events; syncs answered late or never; deadlines firing at any time."""

    data: Any
    pieces: list[str]
    tab: Tab
    produced: int = 0  # characters the model has produced
    saved: int = 0  # characters saved by the progress saver
    over: bool = False
    joined: bool = False
    delivered: int = 0  # events that reached the subscriber
    prejoin: list[dict[str, Any]] = field(default_factory=list)  # published before the join
    inbox: list[dict[str, Any]] = field(default_factory=list)
    pending_syncs: list[RequestSync] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def saved_now(self) -> dict[str, Any]:
        if self.over:
            return saved_message(self.text, "complete")
        return saved_message(self.text[: self.saved])

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def join(self, messages: list[dict[str, Any]]) -> None:
        """Join the group, then read the history: the last events published before
        the read may arrive too, after it."""
        self.joined = True
        self.act(self.tab.sub.on_history(messages))
        if self.prejoin:
            self.inbox.extend(self.prejoin[-self.draw(st.integers(0, 2)) or len(self.prejoin) :])

    def publish(self, event: dict[str, Any]) -> None:
        if not self.joined:
            self.prejoin.append(event)
            return
        fate = self.draw(st.sampled_from(["deliver", "deliver", "deliver", "lose", "twice"]))
        if fate == "lose":
            return
        self.inbox.append(event)
        if fate == "twice":
            self.inbox.append(event)
        if len(self.inbox) > 1 and self.draw(st.integers(0, 9)) == 0:
            self.inbox[-1], self.inbox[-2] = self.inbox[-2], self.inbox[-1]

    def act(self, actions: list[Any]) -> None:
        before = len(self.tab.syncs)
        self.tab.run(actions, self.saved_now())
        # A ReadMessage may have set off more actions; the recorder ran them all.
        self.pending_syncs.extend(self.tab.syncs[before:])

    def deliver(self, event: dict[str, Any]) -> None:
        self.delivered += 1
        handler = {
            "chat.start": self.tab.sub.on_start,
            "chat.delta": self.tab.sub.on_delta,
            "chat.sync": self.tab.sub.on_sync,
            "chat.end": self.tab.sub.on_end,
        }[event["type"]]
        self.act(handler(event))

    def idle(self) -> None:
        """Whatever else may happen between two model tokens."""
        if not self.joined:
            return
        while self.inbox and self.draw(st.booleans()):
            self.deliver(self.inbox.pop(0))
        if self.pending_syncs and self.draw(st.booleans()):
            request = self.pending_syncs.pop(0)
            if not self.over and self.draw(st.integers(0, 3)):  # else lost
                reply = self.text[: self.produced][request.offset :]
                self.inbox.append(contract.chat_sync(ID, request.offset, reply))
        if self.draw(st.integers(0, 3)) == 0:
            self.saved = self.draw(st.integers(self.saved, self.produced))
        for kind in list(self.tab.deadlines):
            if self.draw(st.integers(0, 5)) == 0:
                deadline = self.tab.deadlines.pop(kind)
                self.act(self.tab.sub.on_deadline(kind, deadline.token))
        if self.draw(st.integers(0, 15)) == 0:
            self.act(self.tab.sub.set_mode(self.draw(st.sampled_from(MODES))))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    pieces=st.lists(
        st.text(alphabet="ab .,\n。、x", min_size=1, max_size=6), min_size=1, max_size=25
    ),
    mode=st.sampled_from(MODES),
)
def test_any_losses_and_any_join_point_show_the_saved_text_once(
    data: Any, pieces: list[str], mode: str
) -> None:
    world = World(data, pieces, tab(mode))
    # Where the subscriber joins: before the start, after k pieces, or after the end.
    join = data.draw(st.integers(-1, len(pieces) + 1), label="join")
    produced_at_join = sum(map(len, pieces[: max(join, 0)]))
    if join == -1:
        world.join([])
    world.publish(contract.chat_start(ID, "m"))
    for index, piece in enumerate(pieces):
        if index == join:
            world.saved = data.draw(st.integers(0, produced_at_join), label="saved at join")
            world.join([world.saved_now()])
        world.publish(delta(world.produced, piece))
        world.produced += len(piece)
        world.idle()
    world.over = True  # saved, then announced
    if join == len(pieces):
        world.join([world.saved_now()])
    world.publish(end_event(world.text))
    if join == len(pieces) + 1:
        world.join([world.saved_now()])
    # Everything still in flight arrives (or not); then every deadline fires in turn.
    while world.inbox or world.pending_syncs:
        world.idle()
        if world.inbox:
            world.deliver(world.inbox.pop(0))
        elif world.pending_syncs:
            world.pending_syncs.pop(0)  # the answer is over: nobody replies
    for _ in range(10):
        if not world.tab.deadlines:
            break
        for kind in list(world.tab.deadlines):
            if kind in world.tab.deadlines:
                world.tab.fire(kind, world.saved_now())
    t = world.tab
    if join == -1 and not world.delivered:  # it never heard of the answer: shows none
        assert t.frames == [] and t.sub.stream is None
        return
    assert t.text() == world.text
    assert len(t.histories) == 1
    ends = [f for f in t.frames if f["type"] == "end"]
    if t.histories[0] and t.histories[0][0]["status"] == "complete":
        assert ends == [] and t.frames == []  # the history has the whole answer
    else:
        assert [e["status"] for e in ends] == ["complete"]
        assert t.frames[-1]["type"] == "end"
    seqs = [f["seq"] for f in t.frames if f["type"] == "chunk"]
    assert seqs == list(range(len(seqs)))
    assert t.sub.stream is None and not t.sub.backlog and not t.sub.syncing


def test_a_backlog_that_fills_up_reads_the_saved_text_instead_of_waiting(monkeypatch) -> None:
    from chat.streaming.delivery import subscriber

    monkeypatch.setattr(subscriber, "MAX_BACKLOG", 10)
    t = tab()
    t.run(t.sub.on_start(contract.chat_start(ID, "m")))
    t.run(t.sub.on_delta(delta(0, "a")))
    text = "a" + "".join(chr(ord("b") + i % 20) for i in range(40))
    saved = saved_message(text[:30])  # the progress save lags the stream
    for offset in range(2, len(text)):  # text[1] was lost: a gap, and the sync never comes
        t.run(t.sub.on_delta(delta(offset, text[offset])), saved=saved)
        assert len(t.sub.backlog) <= 10
    t.run(t.sub.on_end(end_event(text)), saved=saved_message(text, "complete"))
    assert [r.reason for r in t.reads][:1] == ["sync"] and t.text() == text


# --- An HTTP stream: the join from an offset, and the replay of an answer over ------------


def http_tab(mode: str, offset: int) -> Tab:
    """A subscriber of a transport that shows no history: what a Follower makes."""
    t = tab(mode)
    t.sub.join_offset = offset
    return t


def chunks(t: Tab) -> list[str]:
    sent = [f for f in t.frames if f["type"] == "chunk"]
    assert [f["seq"] for f in sent] == list(range(len(sent))), "seq must be 0,1,2,…"
    return [f["text"] for f in sent]


def test_a_join_from_offset_zero_sends_the_text_so_far_as_chunks_of_its_mode() -> None:
    t = http_tab("sentence", 0)
    t.run(t.sub.on_history([saved_message("One")]))
    assert t.syncs[0].offset == 0 and t.histories == []
    t.run(t.sub.on_delta(delta(10, "Thr")))  # waits for the sync
    t.run(t.sub.on_sync(contract.chat_sync(ID, 0, "One. Two. ")))
    # The history goes out unchanged (the transport ignores it): the text is in chunks.
    assert t.histories == [[saved_message("One")]]
    t.run(t.sub.on_delta(delta(13, "ee.")))
    t.run(t.sub.on_end(end_event("One. Two. Three.")))
    assert chunks(t) == ["One. ", "Two. ", "Three."]
    assert t.kinds()[-1] == "end" and t.sub.stream is None


def test_a_join_at_a_sentence_boundary_sends_the_text_from_there() -> None:
    t = http_tab("sentence", len("One. "))
    t.run(t.sub.on_history([saved_message("One. Tw")]))
    t.run(t.sub.on_sync(contract.chat_sync(ID, 0, "One. Two. Thr")))
    assert chunks(t) == ["Two. "]  # "Thr" waits for its sentence's end
    t.run(t.sub.on_delta(delta(13, "ee.")))
    t.run(t.sub.on_end(end_event("One. Two. Three.")))
    assert chunks(t) == ["Two. ", "Three."]
    assert "One. " + "".join(chunks(t)) == "One. Two. Three."


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("offset", [0, 3, 5, 9, 16])
def test_a_join_from_any_offset_sends_each_character_after_it_once(mode: str, offset: int) -> None:
    text = "One. Two, three\nFour."
    t = http_tab(mode, offset)
    t.run(t.sub.on_history([saved_message(text[:2])]))
    t.run(t.sub.on_delta(delta(12, text[12:15])))  # before the sync reply: it waits
    t.run(t.sub.on_sync(contract.chat_sync(ID, 0, text[:12])))
    t.run(t.sub.on_delta(delta(15, text[15:])))
    t.run(t.sub.on_end(end_event(text)))
    assert text[:offset] + "".join(chunks(t)) == text
    assert t.kinds()[-1] == "end" and not t.reads


def test_a_join_from_beyond_the_synced_text_repeats_nothing_the_client_has() -> None:
    """The sync times out and the saved text lags behind what the client already had
    (8 characters): the stream goes on from the client's offset, not from the end of the
    saved text, so no character the client has comes again."""
    t = http_tab("token", 8)  # the client has "Hello wo"
    t.run(t.sub.on_history([saved_message("Hello")]))
    t.run(t.sub.on_delta(delta(8, "rld")))  # waits for the sync
    t.fire("sync", saved=saved_message("Hello"))  # no reply: the saved text, lagging
    for sync in t.syncs[1:]:  # a sync it asks for now is answered
        t.run(t.sub.on_sync(contract.chat_sync(ID, sync.offset, "Hello world"[sync.offset :])))
    t.run(t.sub.on_end(end_event("Hello world")))
    assert "Hello wo" + "".join(chunks(t)) == "Hello world"
    assert t.kinds()[-1] == "end"


def test_a_join_offset_of_none_shows_the_text_in_the_history_as_a_tab_does() -> None:
    t = tab("sentence")
    t.run(t.sub.on_history([saved_message("One")]))
    t.run(t.sub.on_sync(contract.chat_sync(ID, 0, "One. Two")))
    assert t.histories[0][0]["content"] == "One. Two" and chunks(t) == []


def test_a_replay_sends_the_rest_of_the_saved_text_then_the_end() -> None:
    t = tab("sentence")
    saved = saved_message("One. Two. Three.", "complete", finish_reason="length")
    t.run(t.sub.on_replay(saved, len("One. ")))
    assert chunks(t) == ["Two. ", "Three."]
    end = t.frames[-1]
    assert t.kinds() == ["chunk", "chunk", "end"]
    assert end == {
        "type": "end",
        "message_id": ID,
        "status": "complete",
        "usage": USAGE,
        "ttft_ms": 5,
        "duration_ms": 9,
        "error": "",
        "finish_reason": "length",
    }
    assert not t.syncs and not t.reads and t.sub.stream is None


def test_a_replay_from_zero_in_line_mode_sends_every_line() -> None:
    t = tab("line")
    t.run(t.sub.on_replay(saved_message("a\nb\nc", "stopped"), 0))
    assert chunks(t) == ["a\n", "b\n", "c"] and t.frames[-1]["status"] == "stopped"


def test_a_replay_of_an_error_answer_sends_its_error_before_its_end() -> None:
    t = tab("token")
    saved = saved_message("Half an", "error", error="The model failed.", error_code="model_error")
    t.run(t.sub.on_replay(saved, 2))
    assert chunks(t) == ["lf an"]
    assert t.kinds() == ["chunk", "error", "end"]
    error, end = t.frames[-2:]
    assert error == {
        "type": "error",
        "code": "model_error",
        "message": "The model failed.",
        "message_id": ID,
    }
    assert (end["status"], end["error"]) == ("error", "The model failed.")


def test_a_replay_of_an_error_without_a_code_says_model_error() -> None:
    t = tab()
    t.run(t.sub.on_replay(saved_message("", "error", error="Lost."), 0))
    assert t.kinds() == ["error", "end"] and t.frames[0]["code"] == "model_error"


@pytest.mark.parametrize("beyond", [0, 1, 100])
def test_a_replay_from_the_end_sends_only_the_end(beyond: int) -> None:
    t = tab("clause")
    text = "All of it, said."
    t.run(t.sub.on_replay(saved_message(text, "complete"), len(text) + beyond))
    assert t.kinds() == ["end"] and t.frames[0]["status"] == "complete"
