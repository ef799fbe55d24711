"""The one answer stream (chat/streaming/stream/) through its HTTP doors: /v1 admits a
request before it writes anything and continues the conversation a client resends; a
start whose caller is cancelled is finished by its door's policy; a revoked token or a
deactivated account ends an SSE or /v1 stream; /v1 follows an answer the channel layer
never announced. In-process, over the real channel layer (both channels_redis layers),
the real database and the loopback model server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import openai
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import post_save
from django.test import AsyncClient

from chat.accounts import api_tokens
from chat.models import ApiToken, Conversation, Message
from chat.provider import llm
from chat.streaming.answer import exchanges
from chat.streaming.answer.exchanges import ExchangeRequest
from chat.streaming.stream.follow import Follower
from chat.streaming.stream.post import OnLeave, post
from chatsite.asgi import application
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.waiting import wait_for

from .conftest import make_conversation, make_user, saved
from .sse import (
    Stream,
    bearer_client,
    make_token,
    messages_of,
    no_stream_open,
    openai_error_of,
    post_message,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]

DELTAS = ["Hello", " there", "."]
TEXT = "".join(DELTAS)
USAGE = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
SYSTEM = {"role": "system", "content": "Be brief."}
TEMPERATURE = 0.5
LONG = [f"w{i} " for i in range(100)]  # 5 s at 0.05 s a delta: still running when asked


async def api_user() -> tuple[Any, ApiToken, str]:
    """A user and one of their API tokens (the raw key too)."""
    user = await make_user()
    token, raw = await make_token(user)
    return user, token, raw


async def complete(client: AsyncClient, messages: list[dict[str, str]], **body: Any) -> Any:
    body = {"model": "stub-model", "messages": messages, **body}
    return await client.post(
        "/v1/chat/completions", data=json.dumps(body), content_type="application/json"
    )


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def assistant(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


@database_sync_to_async
def conversations_of(owner: Any) -> list[str]:
    return [str(pk) for pk in Conversation.objects.filter(owner=owner).values_list("pk", flat=True)]


@database_sync_to_async
def path_of(conversation_id: Any) -> list[tuple[str, str, str]]:
    """The conversation's current path, oldest first, as (role, content, status); every
    message of the conversation is on it."""
    messages = {m.pk: m for m in Message.objects.filter(conversation_id=conversation_id)}
    leaf = Conversation.objects.get(pk=conversation_id).leaf_id
    path = []
    while leaf is not None:
        path.append(messages[leaf])
        leaf = messages[leaf].parent_id
    assert len(path) == len(messages), "every message is on the path"
    return [(m.role, m.content, m.status) for m in reversed(path)]


def status_is(message_id: Any, status: str) -> Callable[[], Awaitable[bool]]:
    async def reached() -> bool:
        return (await saved(message_id)).status == status

    reached.__name__ = f"the answer to be {status}"
    return reached


def content_deltas(lines: list[str]) -> str:
    """The text of an OpenAI stream's chunks (its `data:` payloads)."""
    parsed = [json.loads(line) for line in lines if line != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content", "") for c in parsed if c.get("choices"))


# --- 1. /v1 admits before it writes -----------------------------------------------------


@pytest.mark.parametrize("limit", ["rate", "budget", "active"])
async def test_v1_refuses_a_request_over_a_limit_before_writing_anything(
    stub: OpenAIStub, settings, limit: str
) -> None:
    """Over the rate limit, the day's token budget or the answers-at-once cap: 429 in
    OpenAI's shape, and no conversation row is ever written for the request (the old
    gateway imported the history into a new conversation, then deleted it)."""
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 1 if limit == "rate" else 100
    settings.CHAT_DAILY_TOKEN_BUDGET = 10 if limit == "budget" else 0  # the first costs 15
    settings.CHAT_MAX_ACTIVE_ANSWERS_PER_USER = 1 if limit == "active" else 5
    slow = Reply(deltas=[f"w{i} " for i in range(40)], delay=0.05)  # 2 s
    first = slow if limit == "active" else Reply(deltas=DELTAS)
    stub.replies.append(first)
    owner, _token, raw = await api_user()
    client = bearer_client(raw)
    running = None
    if limit == "active":  # one answer still being written
        running = Stream(await complete(client, [user("Long one")], stream=True))
        while not content_deltas([e.data for e in running.events]):  # the model writes
            assert await running.next() is not None
    else:
        assert (await complete(client, [user("First")])).status_code == 200
    (earlier,) = await conversations_of(owner)

    written: list[tuple[Any, bool]] = []

    def conversation_saved(sender: Any, instance: Conversation, created: bool, **_: Any) -> None:
        written.append((instance.pk, created))

    post_save.connect(conversation_saved, sender=Conversation, weak=False)
    try:
        history = [SYSTEM, user("Earlier"), assistant("An answer."), user("Again")]
        response = await complete(client, history)
    finally:
        post_save.disconnect(conversation_saved, sender=Conversation)
    assert response.status_code == 429
    error = openai_error_of(response)
    expected = {
        "rate": ("requests", "rate_limit_exceeded"),
        "budget": ("insufficient_quota", "insufficient_quota"),
        "active": ("requests", "rate_limit_exceeded"),
    }[limit]
    assert (error["type"], error["code"]) == expected
    if limit == "budget":  # the sentence names when the budget renews (issue #22)
        assert "It renews at 00:00 UTC (in " in error["message"]
    assert int(response["Retry-After"]) >= 1
    assert written == [], "a refused request wrote a conversation row"
    assert await conversations_of(owner) == [earlier] and len(stub.requests) == 1
    if running is not None:
        assert (await running.rest())[-1].data == "[DONE]"  # it runs to its end
    await wait_for(lambda: no_stream_open(owner), what="the streams to leave")


# --- 2. /v1 continues the conversation a client resends ---------------------------------


def v1_client(raw: str) -> openai.AsyncOpenAI:
    """The official client, talking to the ASGI application in-process."""
    transport = httpx.ASGITransport(app=application)
    http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    return openai.AsyncOpenAI(
        api_key=raw, base_url="http://testserver/v1", http_client=http, max_retries=0
    )


async def turn(
    client: openai.AsyncOpenAI,
    messages: list[dict[str, str]],
    model: str = "stub-model",
    temperature: float = TEMPERATURE,
) -> tuple[str, str]:
    """One request of a client that resends the conversation: (the id of the
    conversation it was recorded in, the answer's text)."""
    raw = await client.chat.completions.with_raw_response.create(
        model=model,
        messages=messages,  # type: ignore[arg-type]
        temperature=temperature,
    )
    completion = raw.parse()
    return raw.headers["x-conversation-id"], completion.choices[0].message.content or ""


async def test_v1_continues_the_conversation_a_request_resends(stub: OpenAIStub) -> None:
    """Turn 2 resends turn 1 with its answer as given: both turns are one conversation
    of four messages, and the model gets the whole of it."""
    stub.replies += [Reply(deltas=DELTAS), Reply(deltas=["And", " more."])]
    owner, _token, raw = await api_user()
    async with v1_client(raw) as client:
        first, answer = await turn(client, [SYSTEM, user("Hi")])
        assert answer == TEXT
        second, more = await turn(client, [SYSTEM, user("Hi"), assistant(answer), user("More")])
    assert second == first and more == "And more."
    assert await path_of(first) == [
        ("user", "Hi", "complete"),
        ("assistant", TEXT, "complete"),
        ("user", "More", "complete"),
        ("assistant", "And more.", "complete"),
    ]
    assert len(await messages_of(first)) == 4
    assert await conversations_of(owner) == [first]
    sent = [(m["role"], m["content"]) for m in stub.requests[1]["messages"]]
    # The operator's prompt first, then the client's instructions (llm.system_prompt).
    system = llm.system_prompt("Be brief.")
    assert system.startswith("You are a helpful assistant.") and system.endswith("Be brief.")
    assert sent == [("system", system), ("user", "Hi"), ("assistant", TEXT), ("user", "More")]


CHANGED_TURNS = {
    "edited-answer": {"messages": [SYSTEM, user("Hi"), assistant(TEXT + " Edited."), user("More")]},
    "edited-question": {"messages": [SYSTEM, user("Hi!"), assistant(TEXT), user("More")]},
    "other-instructions": {
        "messages": [
            {"role": "system", "content": "Be verbose."},
            user("Hi"),
            assistant(TEXT),
            user("More"),
        ]
    },
    "no-instructions": {"messages": [user("Hi"), assistant(TEXT), user("More")]},
    "other-model": {"model": llm.DEMO.key},
    "other-temperature": {"temperature": 0.9},
    "other-token": {"token": True},
}


@pytest.mark.parametrize("change", list(CHANGED_TURNS))
async def test_v1_starts_a_new_conversation_for_a_turn_that_does_not_continue(
    stub: OpenAIStub, change: str
) -> None:
    """A turn whose history differs from the conversation's (an edited answer or
    question), or whose instructions, model or temperature differ, or that comes with
    another token of the same user, is a conversation of its own; the first one is still
    continued by the turn that does resend it."""
    stub.replies.append(Reply(deltas=DELTAS))
    owner, _token, raw = await api_user()
    _other, other_raw = await make_token(owner, name="another script")
    exact = [SYSTEM, user("Hi"), assistant(TEXT), user("More")]
    request: dict[str, Any] = {"messages": exact, **CHANGED_TURNS[change]}
    async with v1_client(raw) as client, v1_client(other_raw) as other_client:
        first, answer = await turn(client, [SYSTEM, user("Hi")])
        assert answer == TEXT
        sender = other_client if request.pop("token", False) else client
        changed, _ = await turn(sender, **request)
        assert changed != first
        assert [role for role, _, _ in await path_of(changed)] == ["user", "assistant"] * 2
        assert len(await path_of(first)) == 2, "the changed turn went elsewhere"
        continued, _ = await turn(client, exact)
    assert continued == first
    roles = [(role, status) for role, _, status in await path_of(first)]
    assert roles == [("user", "complete"), ("assistant", "complete")] * 2
    assert sorted(await conversations_of(owner)) == sorted([first, changed])


async def test_v1_does_not_continue_a_conversation_whose_answer_still_streams(
    stub: OpenAIStub,
) -> None:
    """A resend of a conversation whose answer is still being written (another request
    of the client is answered there) gets a conversation of its own; once that answer
    has ended, the same resend continues it."""
    stub.replies.append(Reply(deltas=["Partial", " never sent"], hang_after=1))
    owner, _token, raw = await api_user()
    streaming = Stream(
        await complete(
            bearer_client(raw), [SYSTEM, user("Hi")], temperature=TEMPERATURE, stream=True
        )
    )
    first = streaming.response["X-Conversation-Id"]
    while "Partial" not in content_deltas([e.data for e in streaming.events]):
        assert await streaming.next() is not None
    answer_id = (await messages_of(first))[-1].pk

    async def partial_saved() -> bool:
        return (await saved(answer_id)).content == "Partial"

    await wait_for(partial_saved, timeout=10, what="the text so far to be saved")
    resent = [SYSTEM, user("Hi"), assistant("Partial"), user("More")]
    async with v1_client(raw) as client:
        elsewhere, _ = await turn(client, resent)
        assert elsewhere != first
        assert [s for _, _, s in await path_of(first)] == ["complete", "streaming"]
        await streaming.drop()  # its client leaves: the answer stops (/v1's policy)
        await wait_for(status_is(answer_id, "stopped"), timeout=10, interval=0.1)
        continued, _ = await turn(client, resent)
    assert continued == first
    assert [(role, content) for role, content, _ in await path_of(first)][:3] == [
        ("user", "Hi"),
        ("assistant", "Partial"),
        ("user", "More"),
    ]
    assert len(await messages_of(first)) == 4
    assert sorted(await conversations_of(owner)) == sorted([first, elsewhere])
    await wait_for(lambda: no_stream_open(owner), what="the streams to leave")


# --- 3. No phantom answer: a start whose caller is cancelled ----------------------------


@pytest.mark.parametrize(
    ("on_leave", "status"), [(OnLeave.KEEP, "complete"), (OnLeave.STOP, "stopped")]
)
async def test_a_start_whose_caller_is_cancelled_is_finished_by_the_doors_policy(
    stub: OpenAIStub, monkeypatch, on_leave: OnLeave, status: str
) -> None:
    """The caller of `post` is cancelled while its question and `streaming` answer are
    in the database but its answer has not started (an HTTP client that left): the
    answer is not left `streaming` with nothing writing it; it runs to `complete`
    (KEEP) or ends `stopped` (STOP), and the conversation takes a new message."""
    stub.replies.append(Reply(deltas=[f"w{i} " for i in range(10)], delay=0.02))
    in_database, release = threading.Event(), threading.Event()
    batch = exchanges.exchanges_start_or_each

    def held(requests: list[ExchangeRequest]) -> list[exchanges.Outcome]:
        outcomes = batch(requests)  # committed: the question and its `streaming` answer
        in_database.set()
        release.wait(timeout=30)
        return outcomes

    monkeypatch.setattr(exchanges._exchanges, "func", held)  # the group call's
    owner = await make_user()
    conversation = await make_conversation(owner)
    asked = ExchangeRequest(owner, conversation.pk, "Hi", client_id=None)
    caller = asyncio.ensure_future(post(asked, on_leave=on_leave))
    await wait_for(in_database.is_set, timeout=10, what="the exchange to be saved")
    caller.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await caller
    assert caller.cancelled()
    release.set()

    async def answer_settled() -> Message | None:
        answers = [m for m in await messages_of(conversation.pk) if m.role == "assistant"]
        return answers[0] if answers and answers[0].status != "streaming" else None

    answer = await wait_for(answer_settled, timeout=20, what="the answer to end")
    assert answer.status == status
    again = await post(ExchangeRequest(owner, conversation.pk, "Again", client_id=None))
    assert again.answer_id is not None  # not refused `busy`
    await wait_for(status_is(again.answer_id, "complete"), timeout=20, interval=0.1)


# --- 4. A lapsed credential ends the HTTP streams ---------------------------------------


@database_sync_to_async
def revoke_committed(owner: Any, token: ApiToken) -> None:
    with transaction.atomic():
        api_tokens.token_revoke(token=token)


@database_sync_to_async
def deactivate(owner: Any, token: ApiToken) -> None:
    owner.is_active = False
    owner.save()


LAPSES = {"revoked": revoke_committed, "deactivated": deactivate}
LAPSED = {"revoked": "token revoked", "deactivated": "user deactivated"}


@pytest.mark.parametrize("lapse", list(LAPSES))
async def test_a_lapsed_credential_ends_an_sse_stream_and_the_answer_goes_on(
    stub: OpenAIStub, lapse: str
) -> None:
    """A token revoked (or its user deactivated) while its SSE stream runs: an `error`
    `not_authenticated` event, then the response ends; the answer itself runs on to
    `complete` (the SSE door's policy: a stream can be resumed)."""
    stub.replies.append(Reply(deltas=LONG, delay=0.05))
    owner, token, raw = await api_user()
    conversation = await make_conversation(owner)
    stream = Stream(await post_message(bearer_client(raw), conversation.pk, content="Long one"))
    answer_id = stream.response["X-Message-Id"]
    await stream.until("chunk")
    began = time.monotonic()
    await LAPSES[lapse](owner, token)
    after = await stream.until("error", timeout=60)
    errored = time.monotonic()
    assert await stream.next(timeout=60) is None, "the response ends after the error"
    ended = time.monotonic()
    print(
        f"\nSSE, {LAPSED[lapse]}: error event after {(errored - began) * 1000:.0f} ms, "
        f"response ended after {(ended - began) * 1000:.0f} ms"
    )
    error = after[-1].json()
    assert (error["code"], error["message_id"]) == ("not_authenticated", answer_id)
    assert "end" not in [e.event for e in after]
    await wait_for(lambda: no_stream_open(owner), what="the stream to leave")
    await wait_for(status_is(answer_id, "complete"), timeout=60, interval=0.1)
    assert (await saved(answer_id)).content == "".join(LONG)


@pytest.mark.parametrize("lapse", list(LAPSES))
async def test_a_lapsed_credential_ends_a_v1_stream_and_stops_its_answer(
    stub: OpenAIStub, lapse: str
) -> None:
    """A token revoked (or its user deactivated) while its /v1 stream runs: a
    `data: {"error": …}` line (code `not_authenticated`), no `[DONE]`; the answer ends
    `stopped` (the /v1 door's policy: nobody can read it again)."""
    stub.replies.append(Reply(deltas=LONG, delay=0.05))
    owner, token, raw = await api_user()
    stream = Stream(await complete(bearer_client(raw), [user("Long one")], stream=True))
    conversation_id = stream.response["X-Conversation-Id"]
    while not content_deltas([e.data for e in stream.events]):
        assert await stream.next() is not None
    began = time.monotonic()
    await LAPSES[lapse](owner, token)
    after = [e.data for e in await stream.rest(timeout=60)]
    ended = time.monotonic()
    print(f"\n/v1, {LAPSED[lapse]}: error line and end after {(ended - began) * 1000:.0f} ms")
    assert "[DONE]" not in after
    error = json.loads(after[-1])["error"]
    assert error["code"] == "not_authenticated" and error["message"]
    answer_id = (await messages_of(conversation_id))[-1].pk
    await wait_for(status_is(answer_id, "stopped"), timeout=30, interval=0.1)
    answer = await saved(answer_id)
    assert answer.content.startswith(content_deltas([e.data for e in stream.events]))
    assert len(answer.content) < len("".join(LONG))
    await wait_for(lambda: no_stream_open(owner), what="the stream to leave")


# --- 5. /v1 follows an answer the channel layer never announced --------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("fault", ["bus-down", "events-lost"])
async def test_v1_follows_an_answer_the_channel_layer_never_announced(
    stub: OpenAIStub, monkeypatch, fault: str, stream: bool
) -> None:
    """The channel layer fails the conversation's events (`bus-down`: group_send
    raises) or loses them on the way (`events-lost`). The /v1 request is in the
    process that runs its answer, so it still gets the whole answer from this process
    (delivery/local.py), ending `[DONE]`, and the answer is saved `complete`. (Before
    in-process delivery, the /v1 door waited on the silent bus forever.)"""
    stub.replies.append(Reply(deltas=DELTAS))
    layer = get_channel_layer()
    real_group_send = layer.group_send

    async def failing_group_send(group: str, message: dict[str, Any]) -> None:
        if group.startswith("conv.") and message["type"].startswith("chat."):
            if message["type"] == "chat.message" or fault == "bus-down":
                raise ConnectionError("redis went away")
            return  # lost on the way
        await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", failing_group_send)
    owner, _token, raw = await api_user()
    async with asyncio.timeout(60):
        response = await complete(bearer_client(raw), [user("Hi")], stream=stream)
        lines = [e.data for e in await Stream(response).rest(timeout=60)] if stream else []
    answer_id = (await messages_of(response["X-Conversation-Id"]))[-1].pk
    answer = await saved(answer_id)
    assert (answer.status, answer.content) == ("complete", TEXT)
    if stream:
        assert lines[-1] == "[DONE]" and content_deltas(lines) == TEXT
        finish = json.loads(lines[-2])["choices"][0]["finish_reason"]
    else:
        assert response.status_code == 200
        body = response.json()
        assert body["choices"][0]["message"]["content"] == TEXT
        finish = body["choices"][0]["finish_reason"]
    assert finish == "stop"
    await wait_for(lambda: no_stream_open(owner), what="the stream to leave")


# --- Found while writing these tests ------------------------------------------------------


async def test_a_client_leaving_as_a_frame_arrives_still_leaves() -> None:
    """The response's read is cancelled (its client went away) in the same loop step as
    a frame reaches the follower's queue: the read ends cancelled and the follower
    leaves. (Seen first as a /v1 client that left right after the first chunk, while
    the answer's first events were waiting: its answer ran on to `complete`. The
    follower before the one answer stream waited the same way.)"""
    owner = await make_user()
    conversation = await make_conversation(owner)
    follower = Follower(
        conversation.pk, credential={"user": owner}, mode="token", on_leave=OnLeave.STOP
    )
    await follower.join()
    follower.follow("3f2b6a52-8a4c-4d8e-9c1e-0a5b7c9d1e2f")
    frames = follower.frames()
    read = asyncio.ensure_future(anext(frames))
    try:
        await asyncio.sleep(0)  # the read waits for a frame
        assert not read.done()
        chunk = {"type": "chunk", "message_id": follower.position.message_id, "seq": 0}
        follower.queue.put_nowait(({**chunk, "text": "Hi"}, follower.position))
        read.cancel()  # the client goes away as the frame arrives
        with contextlib.suppress(asyncio.CancelledError):
            await read
        assert read.cancelled(), f"the leaving was lost: the read returned {read.result()}"
        assert follower.left
    finally:
        await frames.aclose()
        await follower.leave()
    assert no_stream_open(owner)
