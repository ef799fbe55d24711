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


# --- GET: follow the running answer, or resume one --------------------------------------


async def finished_answer(stub: OpenAIStub, client, conversation, reply: Reply | None = None):
    """An answer posted and read to its end: (its id, its events)."""
    stub.replies.append(reply or Reply(deltas=DELTAS))
    response = await post_message(client, conversation.pk, content="Tell me")
    return response["X-Message-Id"], await Stream(response).rest()


def stream_url(conversation, **params: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"/api/conversations/{conversation.pk}/stream/" + (f"?{query}" if query else "")


async def test_following_with_nothing_running_is_404(stub: OpenAIStub) -> None:
    user, conversation, client = await chat()
    response = await client.get(stream_url(conversation))
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    await finished_answer(stub, client, conversation)  # over: still nothing running
    response = await client.get(stream_url(conversation))
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert no_stream_open(user)


@pytest.mark.parametrize(
    "last_event_id",
    ["garbage", "abc:", ":3", "abc:-1", "abc:1.5", "abc:²", "x" * 65 + ":1"],
)
async def test_a_bad_last_event_id_is_400(stub: OpenAIStub, last_event_id: str) -> None:
    user, conversation, client = await chat()
    response = await client.get(stream_url(conversation), headers={"last-event-id": last_event_id})
    assert response.status_code == 400 and error_of(response)["code"] == "bad_request"
    query = await client.get(
        stream_url(conversation, last_event_id=last_event_id.replace(":", "%3A"))
    )
    assert query.status_code == 400 and error_of(query)["code"] == "bad_request"
    assert no_stream_open(user)


async def test_a_bad_chunk_mode_is_400(stub: OpenAIStub) -> None:
    _user, conversation, client = await chat()
    response = await client.get(stream_url(conversation, chunk="word"))
    assert response.status_code == 400 and error_of(response)["code"] == "bad_frame"


async def test_resuming_an_answer_of_another_conversation_is_404(stub: OpenAIStub) -> None:
    user, conversation, client = await chat()
    answer_id, _ = await finished_answer(stub, client, conversation)
    other = await make_conversation(user)
    for last_event_id in (f"{answer_id}:3", f"{uuid.uuid4()}:3", "not-an-id:3"):
        response = await client.get(stream_url(other), headers={"last-event-id": last_event_id})
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert no_stream_open(user)


@pytest.mark.parametrize("how", ["header", "query"])
async def test_resuming_a_finished_answer_sends_the_rest_then_its_end(
    stub: OpenAIStub, how: str
) -> None:
    user, conversation, client = await chat()
    answer_id, first = await finished_answer(stub, client, conversation)
    offset = len("Hello, world. ")
    last_event_id = f"{answer_id}:{offset}"
    if how == "header":
        response = await client.get(
            stream_url(conversation, chunk="sentence"), headers={"last-event-id": last_event_id}
        )
    else:
        response = await client.get(
            stream_url(conversation, chunk="sentence", last_event_id=last_event_id)
        )
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    events = await Stream(response).rest()
    assert [e.event for e in events] == ["chunk", "chunk", "end"]
    assert chunks(events) == ["How are you?\n", "Fine, thanks."]
    answer = await saved(answer_id)
    assert TEXT[:offset] + "".join(chunks(events)) == answer.content == TEXT
    assert [e.offset for e in events] == [offset + len("How are you?\n"), len(TEXT), len(TEXT)]
    assert events[-1].json() == {**first[-1].json()}  # the same end as the live one had
    await wait_for(lambda: no_stream_open(user), what="the stream to leave")


async def test_resuming_a_failed_answer_sends_its_error_then_its_end(stub: OpenAIStub) -> None:
    _user, conversation, client = await chat()
    reply = Reply(deltas=["Half ", "an ", "answer"], fail_after=2)
    answer_id, _ = await finished_answer(stub, client, conversation, reply)
    response = await client.get(
        stream_url(conversation), headers={"last-event-id": f"{answer_id}:5"}
    )
    events = await Stream(response).rest()
    assert [e.event for e in events] == ["chunk", "error", "end"]
    assert chunks(events) == ["an "] and events[1].json()["code"] == "model_error"
    assert events[-1].json()["status"] == "error"


async def test_resuming_a_finished_answer_at_its_end_sends_only_the_end(stub: OpenAIStub) -> None:
    _user, conversation, client = await chat()
    answer_id, _ = await finished_answer(stub, client, conversation)
    response = await client.get(
        stream_url(conversation), headers={"last-event-id": f"{answer_id}:{len(TEXT)}"}
    )
    events = await Stream(response).rest()
    assert [e.event for e in events] == ["end"] and events[0].offset == len(TEXT)


async def test_following_a_running_answer_sends_all_of_it(stub: OpenAIStub) -> None:
    """A second client follows the answer another's POST started, mid-answer: its text
    so far, then the rest as it comes, each character once."""
    stub.replies.append(slow())
    user, conversation, client = await chat()
    posted = Stream(await post_message(client, conversation.pk, content="Long one"))
    answer_id = posted.response["X-Message-Id"]
    await posted.until("chunk")
    await posted.until("chunk")
    other_tab = await session_client(user)
    follower = Stream(await other_tab.get(stream_url(conversation, chunk="token")))
    followed = await follower.rest()
    assert followed[0].event == "start" and followed[0].json()["message_id"] == answer_id
    assert followed[-1].event == "end" and followed[-1].json()["status"] == "complete"
    answer = await saved(answer_id)
    assert "".join(chunks(followed)) == answer.content == "".join(f"w{i} " for i in range(40))
    offsets = [e.offset for e in followed]
    assert offsets == sorted(offsets) and offsets[-1] == len(answer.content)
    await posted.rest()
    assert "".join(chunks(posted.events)) == answer.content
    await wait_for(lambda: no_stream_open(user), what="both streams to leave")


async def test_a_dropped_stream_resumes_mid_answer_from_its_last_event_id(
    stub: OpenAIStub,
) -> None:
    """The POST's client goes away after a few chunks (the answer goes on), reconnects
    with the last event id it saw, and gets the rest: no gap, no duplicate."""
    stub.replies.append(slow())
    user, conversation, client = await chat()
    posted = Stream(await post_message(client, conversation.pk, content="Long one", chunk="token"))
    answer_id = posted.response["X-Message-Id"]
    for _ in range(3):
        await posted.until("chunk")
    had, last = "".join(chunks(posted.events)), posted.events[-1]
    assert last.offset == len(had)
    await posted.drop()
    await wait_for(lambda: no_stream_open(user), what="the dropped stream to leave")
    resumed = Stream(await client.get(stream_url(conversation), headers={"last-event-id": last.id}))
    events = await resumed.rest()
    assert events[-1].event == "end" and events[-1].json()["status"] == "complete"
    answer = await saved(answer_id)
    assert answer.content == "".join(f"w{i} " for i in range(40))
    assert had + "".join(chunks(events)) == answer.content
    assert all(e.id.startswith(f"{answer_id}:") for e in events)
    offsets = [e.offset for e in events]
    assert offsets == sorted(offsets) and offsets[-1] == len(answer.content)
    assert min(e.offset for e in events if e.event == "chunk") > last.offset
