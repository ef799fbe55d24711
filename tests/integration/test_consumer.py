"""The chat WebSocket over the real Redis channel layer and the real database."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from langchain_core.messages import HumanMessage, SystemMessage

from chat.models import Message
from chat.provider.demo import demo_reply, demo_tokens

from .conftest import (
    chunk_text,
    make_conversation,
    make_user,
    open_chat,
    open_socket,
    receive,
    receive_until,
    saved,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]


@database_sync_to_async
def count_messages(conversation_id: object) -> int:
    return Message.objects.filter(conversation_id=conversation_id).count()


def first_reply(prompt: str) -> str:
    """What the demo model answers to the first message of a conversation."""
    return demo_reply([SystemMessage("x"), HumanMessage(prompt)])


async def send(communicator, **frame) -> None:
    await communicator.send_to(text_data=json.dumps(frame))


@pytest.mark.parametrize("mode", ["token", "line", "sentence", "clause"])
async def test_full_exchange_in_each_mode(mode: str) -> None:
    """A message is saved, echoed, answered in chunks that join to the saved answer."""
    user = await make_user()
    conversation = await make_conversation(user)
    ws = await open_socket(user, conversation, mode)
    history = await receive(ws)
    assert history == {
        "type": "history",
        "conversation": {
            "id": str(conversation.pk),
            "title": "",
            "model": "",
            "instructions": "",
            "temperature": None,
            "pinned": False,
            "archived": False,
            "temporary": False,
            "expires": None,
        },
        "messages": [],
        "has_more": False,
        "chunking": mode,
        "model": "demo-offline",
    }
    await send(ws, type="user_message", content="Tell me about chunking", client_id="c-1")
    frames = await receive_until(ws, "end")
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "message" and kinds[1] == "start" and kinds[-1] == "end"
    assert set(kinds[2:-1]) == {"chunk"}
    assert frames[0]["content"] == "Tell me about chunking" and frames[0]["client_id"] == "c-1"
    answer_id = frames[1]["message_id"]
    answer = await saved(answer_id)
    text = chunk_text(frames, answer_id)
    assert text == answer.content == first_reply("Tell me about chunking")
    assert answer.status == "complete" and frames[-1]["status"] == "complete"
    assert answer.ttft_ms is not None and answer.duration_ms >= answer.ttft_ms
    assert frames[-1]["usage"]["total_tokens"] == answer.total_tokens > 0
    chunks = [f["text"] for f in frames if f["type"] == "chunk"]
    if mode == "line":
        assert len(chunks) == 4
        assert all(chunk.endswith("\n") for chunk in chunks[:-1])
    elif mode in ("sentence", "clause"):
        assert 4 < len(chunks) < len(text) // 5
    else:
        assert len(chunks) > 40
    await ws.disconnect()


async def test_title_comes_from_first_message_and_history_replays() -> None:
    """A reconnect gets the saved conversation back, titled by its first message."""
    user, conversation, ws = await open_chat()
    await send(ws, type="user_message", content="  Plan a trip to Kyoto\nwith details")
    frames = await receive_until(ws, "end")
    await ws.disconnect()
    ws = await open_socket(user, conversation)
    history = await receive(ws)
    assert history["conversation"]["title"] == "Plan a trip to Kyoto"
    assert [(m["role"], m["status"]) for m in history["messages"]] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert history["messages"][1]["content"] == chunk_text(frames, frames[1]["message_id"])
    await ws.disconnect()


async def test_stop_mid_answer_keeps_partial_text(settings) -> None:
    """`stop` ends the answer as `stopped`; the chunks equal the saved partial text."""
    settings.DEMO_TOKEN_DELAY_MS = 25
    _user, _conversation, ws = await open_chat("sentence")
    await send(ws, type="user_message", content="Please stop me")
    frames = await receive_until(ws, "chunk")  # its first sentence is out, the rest is not
    await send(ws, type="stop")
    frames += await receive_until(ws, "end")
    answer = await saved(frames[1]["message_id"])
    assert frames[-1]["status"] == answer.status == "stopped"
    assert 0 < len(answer.content) < len(first_reply("Please stop me"))
    assert chunk_text(frames, str(answer.pk)) == answer.content
    await ws.disconnect()


async def test_deleting_the_conversation_stops_its_answer(settings) -> None:
    """A deleted conversation's answer has nowhere to go: it is told to stop."""
    from chat.conversations import services

    settings.DEMO_TOKEN_DELAY_MS = 25
    _user, conversation, ws = await open_chat()
    await send(ws, type="user_message", content="Delete me while you answer")
    await receive_until(ws, "start")
    await database_sync_to_async(services.conversation_delete)(conversation=conversation)
    frames = await receive_until(ws, "end")
    assert frames[-1]["status"] == "stopped"
    assert await count_messages(conversation.pk) == 0
    await ws.disconnect()


async def test_answer_completes_after_the_socket_closes() -> None:
    """Closing the tab does not lose the answer: it is finished and saved."""
    _user, _conversation, ws = await open_chat()
    await send(ws, type="user_message", content="Answer even if I leave")
    frames = await receive_until(ws, "start")
    await ws.disconnect()
    from chat.streaming.answer.registry import wait_for_answers

    await wait_for_answers()
    answer = await saved(frames[1]["message_id"])
    assert answer.status == "complete"
    assert answer.content == first_reply("Answer even if I leave")


async def test_second_tab_joins_mid_answer_without_gap_or_duplicate(settings) -> None:
    """A tab that connects mid-answer: its history text plus its chunks is the answer."""
    settings.DEMO_TOKEN_DELAY_MS = 15
    user = await make_user()
    conversation = await make_conversation(user)
    first = await open_socket(user, conversation, "token")
    await receive(first)
    await send(first, type="user_message", content="Two tabs watching")
    frames = await receive_until(first, "chunk")  # the answer has text, and more to come
    answer_id = frames[1]["message_id"]
    second = await open_socket(user, conversation, "clause")
    history = await receive(second)
    live = history["messages"][-1]
    assert live["id"] == answer_id and live["status"] == "streaming"
    assert live["content"], "the text so far comes with the history"
    second_frames = await receive_until(second, "end")
    frames += await receive_until(first, "end")
    answer = await saved(answer_id)
    assert answer.status == "complete"
    assert chunk_text(frames, answer_id) == answer.content
    assert live["content"] + chunk_text(second_frames, answer_id) == answer.content
    await first.disconnect()
    await second.disconnect()


async def test_twenty_users_at_once_each_get_only_their_answer() -> None:
    """Isolation: 20 users stream at the same time; nobody sees anyone else's text."""
    users = [await make_user(f"iso-{i}") for i in range(20)]
    conversations = [await make_conversation(u) for u in users]
    sockets = [
        await open_socket(u, c, "sentence") for u, c in zip(users, conversations, strict=True)
    ]
    for ws in sockets:
        await receive(ws)
    prompts = [f"User {i} asks question number {i * 7}" for i in range(20)]
    for ws, prompt in zip(sockets, prompts, strict=True):
        await send(ws, type="user_message", content=prompt)
    results = await asyncio.gather(*(receive_until(ws, "end", timeout=60) for ws in sockets))
    seen_ids: set[str] = set()
    for prompt, frames in zip(prompts, results, strict=True):
        answer_id = frames[1]["message_id"]
        ids = {f.get("message_id") for f in frames if f["type"] in ("start", "chunk", "end")}
        assert ids == {answer_id}
        assert frames[0]["content"] == prompt
        answer = await saved(answer_id)
        assert chunk_text(frames, answer_id) == answer.content == first_reply(prompt)
        seen_ids.add(answer_id)
    assert len(seen_ids) == 20
    for ws in sockets:
        assert await ws.receive_nothing(timeout=0.2)
        await ws.disconnect()


@pytest.mark.parametrize("which", ["other-user", "unknown", "garbage"])
async def test_foreign_or_unknown_conversation_is_closed_with_4403(which: str) -> None:
    """Another user's conversation and a missing id look the same: close 4403."""
    owner, intruder = await make_user(), await make_user()
    conversation = await make_conversation(owner)
    target = {
        "other-user": conversation,
        "unknown": "8d0c2a58-55a4-4b43-a7d6-3f3c9d7b7f11",
        "garbage": "not-a-uuid",
    }[which]
    ws = await open_socket(intruder, target)
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


async def test_second_message_while_answering_is_busy(settings) -> None:
    """One answer at a time per conversation: the second message gets `busy`."""
    settings.DEMO_TOKEN_DELAY_MS = 10
    _user, conversation, ws = await open_chat()
    await send(ws, type="user_message", content="First")
    await receive_until(ws, "start")
    await send(ws, type="user_message", content="Second")
    frames = await receive_until(ws, "error")
    assert frames[-1]["code"] == "busy"
    await receive_until(ws, "end")
    assert await count_messages(conversation.pk) == 2
    await ws.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_frame"),
        ("[1, 2]", "bad_frame"),
        ('{"type": "dance"}', "bad_frame"),
        ('{"type": "user_message"}', "bad_frame"),
        ('{"type": "user_message", "content": "   "}', "bad_frame"),
        ('{"type": "user_message", "content": "hi", "client_id": 5}', "bad_frame"),
        ('{"type": "set_chunking", "mode": "word"}', "bad_frame"),
        (json.dumps({"type": "user_message", "content": "x" * 8001}), "too_long"),
        ("x" * 20000, "too_long"),
    ],
)
async def test_bad_frames_get_a_readable_error_and_the_socket_stays_usable(
    raw: str, code: str
) -> None:
    _user, conversation, ws = await open_chat()
    await ws.send_to(text_data=raw)
    error = await receive(ws)
    assert error["type"] == "error" and error["code"] == code
    assert error["message"] and "Traceback" not in error["message"]
    await send(ws, type="ping")
    assert await receive(ws) == {"type": "pong"}
    assert await count_messages(conversation.pk) == 0
    await ws.disconnect()


async def test_resend_with_same_client_id_is_idempotent() -> None:
    """A resend after a reconnect does not create a second message or answer."""
    _user, conversation, ws = await open_chat()
    await send(ws, type="user_message", content="Only once", client_id="abc")
    first = await receive_until(ws, "end")
    await send(ws, type="user_message", content="Only once", client_id="abc")
    again = await receive(ws)
    assert again["type"] == "message" and again["id"] == first[0]["id"]
    assert await ws.receive_nothing(timeout=0.3)
    assert await count_messages(conversation.pk) == 2
    await ws.disconnect()


async def test_history_carries_the_client_id_of_user_messages() -> None:
    """What lets a reconnected tab tell which of its unconfirmed messages were saved."""
    user, conversation, ws = await open_chat()
    await send(ws, type="user_message", content="Mine", client_id="tab-1")
    await receive_until(ws, "end")
    await send(ws, type="user_message", content="No id")
    await receive_until(ws, "end")
    await ws.disconnect()
    ws = await open_socket(user, conversation)
    history = await receive(ws)
    assert [(m["role"], m["client_id"]) for m in history["messages"]] == [
        ("user", "tab-1"),
        ("assistant", None),
        ("user", None),
        ("assistant", None),
    ]
    await ws.disconnect()


async def test_model_failure_ends_in_error_with_partial_text_saved() -> None:
    """A model error mid-answer: an error frame, `end` with status error, text kept."""
    _user, _conversation, ws = await open_chat("line")
    await send(ws, type="user_message", content="/fail now")
    frames = await receive_until(ws, "end")
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == "model_error" and "on purpose" in error["message"]
    answer = await saved(frames[1]["message_id"])
    assert answer.status == "error" == frames[-1]["status"]
    assert answer.error and answer.content and chunk_text(frames, str(answer.pk)) == answer.content
    await send(ws, type="user_message", content="And now?")
    frames = await receive_until(ws, "end")
    assert frames[-1]["status"] == "complete"
    await ws.disconnect()


async def test_switching_chunking_mid_answer_loses_nothing(settings) -> None:
    """set_chunking applies from the next chunk; held text moves to the new mode."""
    settings.DEMO_TOKEN_DELAY_MS = 10
    reply = first_reply("Switch modes")
    tokens = demo_tokens(reply)  # the demo model's deltas, one by one
    _user, _conversation, ws = await open_chat("sentence")
    await send(ws, type="user_message", content="Switch modes")
    frames = await receive_until(ws, "chunk")
    # Sentence mode so far: the first chunk is the whole first sentence (9 of 100 tokens).
    assert frames[-1]["text"] == 'You said: "Switch modes". '
    await send(ws, type="set_chunking", mode="token")
    frames += await receive_until(ws, "end")
    answer = await saved(frames[1]["message_id"])
    assert chunk_text(frames, str(answer.pk)) == answer.content == reply
    # Token mode from the switch on: the answer ends in one chunk per delta. In sentence
    # mode its last chunk would be the whole "Reply code …, made offline." line.
    chunks = [f["text"] for f in frames if f["type"] == "chunk"]
    one_per_token = 0  # how many of the last chunks are the last tokens, one each
    while one_per_token < len(chunks) and chunks[-1 - one_per_token] == tokens[-1 - one_per_token]:
        one_per_token += 1
    assert one_per_token >= 20, f"set_chunking did not switch to token mode: {chunks}"


async def test_answer_left_streaming_by_a_dead_process_is_recovered() -> None:
    """A `streaming` answer with no progress for a while is marked as an error, not busy."""
    user = await make_user()
    conversation = await make_conversation(user)

    @database_sync_to_async
    def orphan() -> Message:
        message = Message.objects.create(
            conversation=conversation, role="assistant", status="streaming", content="Half"
        )
        Message.objects.filter(pk=message.pk).update(updated=timezone.now() - timedelta(hours=1))
        return message

    message = await orphan()
    ws = await open_socket(user, conversation)
    history = await receive(ws)
    assert history["messages"][0]["status"] == "error"
    assert (await saved(str(message.pk))).status == "error"
    await send(ws, type="user_message", content="Still usable?")
    frames = await receive_until(ws, "end")
    assert frames[-1]["status"] == "complete"
    await ws.disconnect()


@pytest.mark.parametrize("lost", ["middle", "last"])
async def test_lost_delta_is_recovered(monkeypatch, settings, caplog, lost: str) -> None:
    """A group message the layer drops (full channel) is noticed by its offset and
    filled: mid-answer from the running task, at the end from the saved text."""
    from chat.streaming.answer.relay import Relay

    settings.DEMO_TOKEN_DELAY_MS = 5
    publish = Relay.publish
    held: dict[str, dict] = {}
    count = 0

    async def lossy_publish(self, event, **where):
        nonlocal count
        if event["type"] == "chat.delta":
            count += 1
            if lost == "middle" and count == 3:
                return None  # dropped by the layer
            if lost == "last":  # each delta goes one step late; the last is never sent
                previous, held["event"] = held.get("event"), event
                return await publish(self, previous) if previous else None
        return await publish(self, event, **where)

    monkeypatch.setattr(Relay, "publish", lossy_publish)
    _user, _conversation, ws = await open_chat("token")
    await send(ws, type="user_message", content="Lose one delta")
    frames = await receive_until(ws, "end")
    answer = await saved(frames[1]["message_id"])
    assert answer.status == "complete" and count > 5
    assert chunk_text(frames, str(answer.pk)) == answer.content == first_reply("Lose one delta")
    if lost == "middle":
        assert "gap in answer" in caplog.text
    await ws.disconnect()


async def test_stop_from_another_tab_after_the_asking_tab_closed(settings) -> None:
    """The answer belongs to the conversation, not the socket: any tab of the owner stops it."""
    settings.DEMO_TOKEN_DELAY_MS = 25
    user = await make_user()
    conversation = await make_conversation(user)
    asking = await open_socket(user, conversation)
    await receive(asking)
    await send(asking, type="user_message", content="Stop me from elsewhere")
    frames = await receive_until(asking, "start")
    await asking.disconnect()
    other = await open_socket(user, conversation, "line")
    history = await receive(other)
    assert history["messages"][-1]["status"] == "streaming"
    await send(other, type="stop")
    frames = await receive_until(other, "end")
    answer = await saved(frames[-1]["message_id"])
    assert frames[-1]["status"] == answer.status == "stopped"
    assert history["messages"][-1]["content"] + chunk_text(frames, str(answer.pk)) == answer.content
    await other.disconnect()


async def test_lost_end_event_is_caught_by_the_watchdog(monkeypatch, settings) -> None:
    """If the layer drops `end`, the quiet stream is finished from the saved answer."""
    from chat.streaming.answer.relay import Relay
    from chat.streaming.delivery import subscriber

    monkeypatch.setattr(subscriber, "WATCHDOG_SECONDS", 0.3)
    publish = Relay.publish

    async def drop_end(self, event, **where):
        return None if event["type"] == "chat.end" else await publish(self, event, **where)

    monkeypatch.setattr(Relay, "publish", drop_end)
    _user, _conversation, ws = await open_chat("sentence")
    await send(ws, type="user_message", content="/fail but lose the end")
    frames = await receive_until(ws, "end")
    answer = await saved(frames[1]["message_id"])
    assert frames[-1]["status"] == answer.status == "error"
    assert [f["code"] for f in frames if f["type"] == "error"] == ["model_error"]
    assert chunk_text(frames, str(answer.pk)) == answer.content
    await ws.disconnect()


async def test_rate_limit_per_user(settings) -> None:
    """More messages per minute than allowed get `rate_limited` and nothing is saved."""
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 2
    _user, conversation, ws = await open_chat()
    for content in ("one", "two"):
        await send(ws, type="user_message", content=content)
        await receive_until(ws, "end")
    await send(ws, type="user_message", content="three")
    error = await receive(ws)
    assert error["type"] == "error" and error["code"] == "rate_limited"
    assert await count_messages(conversation.pk) == 4
    await ws.disconnect()


async def test_channel_layer_failure_gets_a_readable_error_and_the_answer_still_runs(
    monkeypatch, settings
) -> None:
    """Redis hiccups while a frame is handled: the user still sees their message, the
    socket stays open, the answer runs, and a stop reaches it without Redis (it runs in
    this process); a stop for an answer elsewhere that cannot be sent is `unavailable`."""
    settings.DEMO_TOKEN_DELAY_MS = 5
    _user, _conversation, ws = await open_chat()
    from channels.layers import get_channel_layer

    layer = get_channel_layer()  # the process-wide layer the consumer and answer use
    real_group_send = layer.group_send
    failing = {"on": True}

    async def flaky_group_send(group, message):
        if (
            failing["on"]
            and group.startswith("conv.")
            and message["type"] in ("gen.stop", "chat.message")
        ):
            raise ConnectionError("redis went away")
        return await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", flaky_group_send)
    await send(ws, type="user_message", content="Hiccup", client_id="h-1")
    first = await receive(ws)
    assert first["type"] == "message" and first["client_id"] == "h-1"
    await send(ws, type="stop")
    frames = await receive_until(ws, "end")
    answer = await saved(frames[-1]["message_id"])
    assert answer.status == frames[-1]["status"] == "stopped"
    assert chunk_text(frames, str(answer.pk)) == answer.content
    from chat.streaming.answer.registry import wait_for_answers

    await wait_for_answers(timeout=10)  # the answer has left this process too
    await send(ws, type="stop")  # no answer here now: the stop must go through Redis
    error = await receive(ws)
    assert error["code"] == "unavailable" and "Traceback" not in error["message"]
    failing["on"] = False
    await send(ws, type="ping")
    assert await receive(ws) == {"type": "pong"}
    await ws.disconnect()


async def test_an_answer_whose_control_group_cannot_be_joined_still_reaches_its_tab(
    monkeypatch, settings
) -> None:
    """Redis refuses the answer's control group: the tab that asked, in this process,
    still gets the whole answer (delivery/local.py), saved `complete`, and its `stop`
    still reaches it; the join is retried in the background meanwhile."""
    from chat.streaming.answer import control

    tries = []

    async def refuse_control_group(layer, group):
        assert group.endswith(".ctl")
        tries.append(group)
        raise ConnectionError("redis went away")

    monkeypatch.setattr(control, "join_new_channel", refuse_control_group)
    _user, _conversation, ws = await open_chat()
    await send(ws, type="user_message", content="No relay")
    frames = await receive_until(ws, "end")
    answer = await saved(frames[-1]["message_id"])
    assert answer.status == frames[-1]["status"] == "complete"
    assert chunk_text(frames, str(answer.pk)) == answer.content != ""
    assert not [f for f in frames if f["type"] == "error"]
    assert tries, "the control group was not even tried"
    await ws.disconnect()
