"""Faults: every answer ends in a definite saved state, whatever breaks and whenever.

Real parts only: the real ChatOpenAI against the loopback stub, the real Redis
channel layer (both channels_redis layers), the real database.
"""

from __future__ import annotations

import json

import pytest
from channels.layers import get_channel_layer

from chat.streaming.answer import exchanges, registry
from chat.streaming.answer.registry import wait_for_answers
from chat.streaming.stream.post import post
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.waiting import wait_for

from .conftest import make_conversation, make_user, open_chat, receive, receive_until, saved

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def send(ws, **frame) -> None:
    await ws.send_to(text_data=json.dumps(frame))


# --- 2. Stop at any moment -------------------------------------------------------------


@pytest.mark.usefixtures("redis_layer")
@pytest.mark.parametrize("repeat", range(3))
async def test_stop_right_after_the_message_stops_the_answer(stub: OpenAIStub, repeat) -> None:
    """A `stop` sent right behind its `user_message`, before the model's first token and
    before `chat.start`, is not lost: the answer ends `stopped` and the model's stream
    is closed (every request that reached the model server saw the client hang up)."""
    stub.replies.append(Reply(deltas=[f"w{i} " for i in range(100)], delay=0.05))
    _user, _conversation, ws = await open_chat()
    await send(ws, type="user_message", content="Stop me at once")
    await send(ws, type="stop")
    frames = await receive_until(ws, "end")
    answer = await saved(frames[-1]["message_id"])
    assert frames[-1]["status"] == answer.status == "stopped"
    assert len(answer.content) < len("".join(f"w{i} " for i in range(100)))
    await wait_for_answers()
    await wait_for(
        lambda: stub.disconnects == len(stub.requests),
        timeout=5,
        what="the stub to see each model stream closed",
    )
    await ws.disconnect()


@pytest.mark.usefixtures("redis_layer")
async def test_stop_before_the_first_token_closes_the_model_stream(stub: OpenAIStub) -> None:
    """The model has the request but has sent no token yet: `stop` ends the answer
    `stopped` with no text, and the model server sees the client hang up."""
    stub.replies.append(Reply(deltas=["late "] * 50, delay=0.3))
    _user, _conversation, ws = await open_chat()
    await send(ws, type="user_message", content="Slow to start")
    message = await receive(ws)
    assert message["type"] == "message"
    await wait_for(lambda: stub.requests, timeout=5, what="the model request")
    await send(ws, type="stop")
    frames = await receive_until(ws, "end")
    answer = await saved(frames[-1]["message_id"])
    assert answer.status == "stopped" and answer.content == ""
    await wait_for(lambda: stub.disconnects == 1, timeout=5, what="the stream to be closed")
    await ws.disconnect()


@pytest.mark.usefixtures("redis_layer")
async def test_request_stop_reaches_an_answer_of_this_process_before_it_joins(
    stub: OpenAIStub,
) -> None:
    """`registry.request_stop` (what the consumer's `stop` calls) stops an answer of
    this process directly: right after `post_message`, before the answer's task has run
    at all, the model request never goes out and the answer ends `stopped`."""
    user = await make_user()
    conversation = await make_conversation(user)
    request = exchanges.ExchangeRequest(
        user=user,
        conversation_id=conversation.pk,
        content="Never mind",
        client_id=None,
    )
    await post(request)
    (running,) = [g for g in registry._generations.values()]
    await registry.request_stop(get_channel_layer(), conversation.pk)
    await wait_for_answers()
    answer = await saved(running.message_id)
    assert answer.status == "stopped" and answer.content == ""
    assert stub.requests == []


@pytest.mark.usefixtures("redis_layer")
async def test_request_stop_without_a_local_answer_goes_through_the_control_group(
    stub: OpenAIStub,
) -> None:
    """No answer of the conversation runs here: the stop is sent to its control group,
    where an answer of another process (here, one already listening) gets it."""
    stub.replies.append(Reply(deltas=["x "] * 100, delay=0.05))
    _user, conversation, ws = await open_chat()
    await send(ws, type="user_message", content="Stop me from afar")
    await wait_for(lambda: stub.requests, timeout=5, what="the model request")
    (running,) = [g for g in registry._generations.values()]
    del registry._generations[running.message_id]  # as if it ran in another process
    await registry.request_stop(get_channel_layer(), conversation.pk)
    frames = await receive_until(ws, "end")
    assert frames[-1]["status"] == "stopped"
    await ws.disconnect()


# --- 3. The final save ----------------------------------------------------------------


async def test_the_final_save_never_turns_a_settled_answer_back_into_complete() -> None:
    """Another process marked the answer `error` (the sweep, while this one could not
    save): the final save keeps that status and error, and still saves the whole text."""
    from asgiref.sync import sync_to_async

    from chat.conversations import services
    from chat.models import Message

    user = await make_user()
    conversation = await make_conversation(user)
    answer = await Message.objects.acreate(
        conversation=conversation, role="assistant", content="Half", status="streaming"
    )
    await Message.objects.filter(pk=answer.pk).aupdate(
        status="error", error_code="interrupted", error="Interrupted."
    )
    settled = await sync_to_async(services.message_finish)(
        message_id=answer.pk, content="Half and the rest", status="complete", duration_ms=5
    )
    assert (settled.status, settled.error_code) == ("error", "interrupted")
    answer = await saved(answer.pk)
    assert (answer.status, answer.error, answer.content) == (
        "error",
        "Interrupted.",
        "Half and the rest",
    )
    assert answer.duration_ms == 5
    streaming = await Message.objects.acreate(
        conversation=conversation, role="assistant", content="", status="streaming"
    )
    finished = await sync_to_async(services.message_finish)(
        message_id=streaming.pk, content="All", status="complete"
    )
    assert finished.status == "complete"


@pytest.mark.usefixtures("redis_layer")
async def test_an_answer_settled_elsewhere_ends_as_settled_in_the_tabs(stub: OpenAIStub) -> None:
    """While the answer streams, another process marks it `error` interrupted (its
    sweep, after this process's saves failed for a while): the answer's end says what
    is saved, `error`, not `complete`, and the saved text is the whole answer."""
    from chat.models import Message

    stub.replies.append(Reply(deltas=[f"w{i} " for i in range(20)], delay=0.05))
    _user, _conversation, ws = await open_chat()
    await send(ws, type="user_message", content="Settle me elsewhere")
    start = await receive_until(ws, "start")
    answer_id = start[-1]["message_id"]
    await Message.objects.filter(pk=answer_id).aupdate(
        status="error", error_code="interrupted", error="Interrupted elsewhere."
    )
    frames = await receive_until(ws, "end")
    assert frames[-1]["status"] == "error"
    assert [(f["code"], f["message"]) for f in frames if f["type"] == "error"] == [
        ("interrupted", "Interrupted elsewhere.")
    ]
    answer = await saved(answer_id)
    assert answer.status == "error" and answer.content == "".join(f"w{i} " for i in range(20))
    await ws.disconnect()
