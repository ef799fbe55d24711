"""Answers as server-sent events (chat/api_stream.py), in-process through Django's
AsyncClient, over the real channel layer (both channels_redis layers), the real
database and the loopback OpenAI-compatible model server."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.waiting import wait_for

from .conftest import make_conversation, make_user, saved
from .sse import (
    Stream,
    chunks,
    error_of,
    messages_of,
    no_stream_open,
    post_message,
    session_client,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]

TEXT = "Hello, world. How are you?\nFine, thanks."
DELTAS = ["Hello, wor", "ld. How ", "are you?\nFi", "ne, thanks."]
EXPECTED_CHUNKS = {
    "token": DELTAS,
    "line": ["Hello, world. How are you?\n", "Fine, thanks."],
    "sentence": ["Hello, world. ", "How are you?\n", "Fine, thanks."],
    "clause": ["Hello, ", "world. ", "How are you?\n", "Fine, ", "thanks."],
}


async def chat():
    """A user, logged in, with a conversation of theirs."""
    user = await make_user()
    conversation = await make_conversation(user)
    return user, conversation, await session_client(user)


def slow(count: int = 40, delay: float = 0.03) -> Reply:
    return Reply(deltas=[f"w{i} " for i in range(count)], delay=delay)


# --- POST: a message and its answer -------------------------------------------------


@pytest.mark.parametrize("mode", list(EXPECTED_CHUNKS))
async def test_a_posted_message_streams_its_answer_in_the_mode_asked(
    stub: OpenAIStub, mode: str
) -> None:
    stub.replies.append(Reply(deltas=DELTAS))
    user, conversation, client = await chat()
    response = await post_message(client, conversation.pk, content="Hi there", chunk=mode)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    assert response["X-Conversation-Id"] == str(conversation.pk)
    answer_id = response["X-Message-Id"]
    events = await Stream(response).rest()

    kinds = [e.event for e in events]
    assert kinds[:2] == ["message", "start"] and kinds[-1] == "end"
    assert set(kinds[2:-1]) == {"chunk"}
    message, start, end = events[0].json(), events[1].json(), events[-1].json()
    assert message["type"] == "message" and message["role"] == "user"
    assert message["content"] == "Hi there" and start["message_id"] == answer_id
    assert start["model"] == "stub-model"
    assert end["status"] == "complete" and end["message_id"] == answer_id
    assert chunks(events) == EXPECTED_CHUNKS[mode]
    answer = await saved(answer_id)
    assert answer.status == "complete" and answer.content == "".join(chunks(events)) == TEXT
    # Every event names the answer and how much of it was sent: a place to resume from.
    assert {e.id.rpartition(":")[0] for e in events} == {answer_id}
    offsets = [e.offset for e in events]
    assert offsets == sorted(offsets) and offsets[-1] == len(TEXT)
    for event in events:
        if event.event == "chunk":
            sent = "".join(chunks(events[: events.index(event) + 1]))
            assert event.offset == len(sent)
    await wait_for(lambda: no_stream_open(user), what="the stream to leave")


async def test_the_chunk_mode_may_be_a_query_parameter(stub: OpenAIStub) -> None:
    stub.replies.append(Reply(deltas=DELTAS))
    _user, conversation, client = await chat()
    response = await client.post(
        f"/api/conversations/{conversation.pk}/messages/?chunk=line",
        data=json.dumps({"content": "Hi"}),
        content_type="application/json",
    )
    assert chunks(await Stream(response).rest()) == EXPECTED_CHUNKS["line"]


async def test_a_model_error_mid_answer_is_an_error_event_then_the_end(stub: OpenAIStub) -> None:
    stub.replies.append(Reply(deltas=["Half ", "an ", "answer"], fail_after=2))
    _user, conversation, client = await chat()
    response = await post_message(client, conversation.pk, content="Fail please")
    events = await Stream(response).rest()
    assert [e.event for e in events][-2:] == ["error", "end"]
    error, end = events[-2].json(), events[-1].json()
    answer = await saved(response["X-Message-Id"])
    assert error["code"] == "model_error" == answer.error_code and error["message"]
    assert error["message_id"] == str(answer.pk)
    assert end["status"] == "error" == answer.status
    assert answer.content == "Half an " == "".join(chunks(events))
    assert events[-1].offset == len("Half an ")


# --- POST: refusals ---------------------------------------------------------------------


async def test_a_body_that_is_not_a_json_object_is_400(stub: OpenAIStub) -> None:
    user, conversation, client = await chat()
    url = f"/api/conversations/{conversation.pk}/messages/"
    for body in ("not json", "[1, 2]", '{"content": NaN}'):
        response = await client.post(url, data=body, content_type="application/json")
        assert response.status_code == 400 and error_of(response)["code"] == "bad_request"
    assert stub.requests == [] and no_stream_open(user)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"content": "   "}, 400, "bad_frame"),
        ({"content": ""}, 400, "bad_frame"),
        ({}, 400, "bad_frame"),
        ({"content": 3}, 400, "bad_frame"),
        ({"content": "x" * 51}, 413, "too_long"),
        ({"content": "Hi", "chunk": "word"}, 400, "bad_frame"),
        ({"content": "Hi", "chunk": 3}, 400, "bad_frame"),
        ({"content": "Hi", "client_id": ""}, 400, "bad_frame"),
    ],
    ids=[
        "blank",
        "empty",
        "missing",
        "not-a-string",
        "too-long",
        "bad-mode",
        "mode-not-a-string",
        "bad-client-id",
    ],
)
async def test_a_bad_message_is_refused_and_nothing_is_saved(
    stub: OpenAIStub, settings, body: dict, status: int, code: str
) -> None:
    settings.CHAT_MAX_MESSAGE_CHARS = 50
    user, conversation, client = await chat()
    response = await post_message(client, conversation.pk, **body)
    assert response.status_code == status and error_of(response)["code"] == code
    assert await conversation_is_empty(conversation.pk)
    assert stub.requests == [] and no_stream_open(user)


async def conversation_is_empty(conversation_id) -> bool:
    from chat.models import Message

    return not await Message.objects.filter(conversation_id=conversation_id).aexists()


@pytest.mark.parametrize("conversation_id", [uuid.uuid4(), "not-a-uuid"])
async def test_an_unknown_conversation_is_404(stub: OpenAIStub, conversation_id) -> None:
    user, _conversation, client = await chat()
    response = await post_message(client, conversation_id, content="Hi")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert no_stream_open(user)


async def test_another_users_conversation_is_404(stub: OpenAIStub) -> None:
    _owner, conversation, _ = await chat()
    intruder, _other, client = await chat()
    response = await post_message(client, conversation.pk, content="Hi")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    stream = await client.get(f"/api/conversations/{conversation.pk}/stream/")
    assert stream.status_code == 404 and error_of(stream)["code"] == "not_found"
    assert await conversation_is_empty(conversation.pk) and no_stream_open(intruder)


async def test_without_a_login_it_is_401(stub: OpenAIStub) -> None:
    from django.test import AsyncClient

    _user, conversation, _ = await chat()
    response = await post_message(AsyncClient(), conversation.pk, content="Hi")
    assert response.status_code == 401 and error_of(response)["code"] == "not_authenticated"
    stream = await AsyncClient().get(f"/api/conversations/{conversation.pk}/stream/")
    assert stream.status_code == 401 and error_of(stream)["code"] == "not_authenticated"
    assert await conversation_is_empty(conversation.pk)


async def test_a_message_while_an_answer_streams_is_409_busy(stub: OpenAIStub) -> None:
    stub.replies.append(slow())
    user, conversation, client = await chat()
    first = Stream(await post_message(client, conversation.pk, content="Long one"))
    await first.until("chunk")
    response = await post_message(client, conversation.pk, content="And another")
    assert response.status_code == 409 and error_of(response)["code"] == "busy"
    events = await first.rest()
    assert events[-1].json()["status"] == "complete"
    assert len(stub.requests) == 1
    await wait_for(lambda: no_stream_open(user), what="both streams to leave")


async def test_too_many_messages_a_minute_is_429_with_retry_after(
    stub: OpenAIStub, settings
) -> None:
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 1
    user, conversation, client = await chat()
    await Stream(await post_message(client, conversation.pk, content="One")).rest()
    response = await post_message(client, conversation.pk, content="Two")
    assert response.status_code == 429
    error = error_of(response)
    assert error["code"] == "rate_limited" and 1 <= error["retry_after"] <= 60
    assert 1 <= int(response["Retry-After"]) <= 60
    assert len(stub.requests) == 1
    await wait_for(lambda: no_stream_open(user), what="the streams to leave")


async def test_a_resent_client_id_is_409_with_the_message_sent_before(stub: OpenAIStub) -> None:
    user, conversation, client = await chat()
    first = await post_message(client, conversation.pk, content="Once", client_id="c-1")
    message = (await Stream(first).rest())[0].json()
    again = await post_message(client, conversation.pk, content="Once", client_id="c-1")
    assert again.status_code == 409
    error = error_of(again)
    assert error["code"] == "not_allowed"
    assert f"/api/conversations/{conversation.pk}/stream/" in error["message"]
    assert error["sent"] == message and message["client_id"] == "c-1"
    assert len(stub.requests) == 1 and len(await messages_of(conversation.pk)) == 2
    await wait_for(lambda: no_stream_open(user), what="the streams to leave")
