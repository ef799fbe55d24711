"""The OpenAI-compatible API (chat/openai_api.py) and API tokens on the streaming API,
in-process through Django's AsyncClient, over the real channel layer (both
channels_redis layers), the real database and the loopback model server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from chat.models import Conversation, Message
from chat.provider import llm
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.waiting import wait_for

from .conftest import make_conversation, make_user
from .sse import (
    Stream,
    bearer_client,
    chunks,
    conversation,
    error_of,
    make_token,
    no_stream_open,
    openai_error_of,
    post_message,
    revoke,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]

DELTAS = ["Bonjour", " à", " vous", "."]
TEXT = "".join(DELTAS)
MESSAGES = [
    {"role": "system", "content": "Answer in French."},
    {"role": "user", "content": "Hello?"},
    {"role": "assistant", "content": "Bonjour."},
    {"role": "user", "content": "Greet me again"},
]
USAGE = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}


async def api_user() -> tuple[Any, Any, AsyncClient]:
    """A user, one of their API tokens, and a client that sends it."""
    user = await make_user()
    token, raw = await make_token(user)
    return user, token, bearer_client(raw)


async def complete(client: AsyncClient, **body: Any) -> Any:
    body = {"model": "stub-model", "messages": MESSAGES, **body}
    return await client.post(
        "/v1/chat/completions", data=json.dumps(body), content_type="application/json"
    )


async def data_lines(response: Any) -> list[str]:
    """The `data:` payloads of an OpenAI stream, in order."""
    assert response["Content-Type"] == "text/event-stream"
    events = await Stream(response).rest()
    assert all(e.event is None and e.id is None for e in events)
    return [e.data for e in events]


@database_sync_to_async
def path_of(conversation_id: Any) -> list[Message]:
    """The conversation's current path, oldest first (from its leaf, through parents)."""
    messages = {m.pk: m for m in Message.objects.filter(conversation_id=conversation_id)}
    leaf = Conversation.objects.get(pk=conversation_id).leaf_id
    path = []
    while leaf is not None:
        path.append(messages[leaf])
        leaf = messages[leaf].parent_id
    assert len(path) == len(messages), "every message is on the path"
    return path[::-1]


@database_sync_to_async
def conversation_count(user: Any) -> int:
    return Conversation.objects.filter(owner=user).count()


# --- /v1/models -------------------------------------------------------------------------


async def test_models_lists_the_configured_models(stub: OpenAIStub) -> None:
    _user, _token, client = await api_user()
    response = await client.get("/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == [c["key"] for c in llm.model_choices()]
    assert body["data"][0]["id"] == "stub-model" and len(body["data"]) == 2
    assert all(m["object"] == "model" and m["owned_by"] for m in body["data"])


async def test_models_needs_a_token_not_a_session(stub: OpenAIStub) -> None:
    user = await make_user()
    session = AsyncClient()
    await session.aforce_login(user)
    for client in (AsyncClient(), session):
        response = await client.get("/v1/models")
        assert response.status_code == 401
        assert openai_error_of(response)["code"] == "invalid_api_key"


# --- /v1/chat/completions ---------------------------------------------------------------


async def test_a_completion_is_answered_whole_and_saved(stub: OpenAIStub) -> None:
    stub.replies.append(Reply(deltas=DELTAS, usage=USAGE))
    user, token, client = await api_user()
    response = await complete(client, temperature=0.3)
    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert body["model"] == "stub-model" and isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert choice["message"] == {"role": "assistant", "content": TEXT, "refusal": None}
    assert choice["finish_reason"] == "stop" and choice["index"] == 0
    assert body["usage"] == USAGE

    saved = await conversation(response["X-Conversation-Id"])
    assert saved.owner_id == user.pk and saved.source == "openai"
    assert saved.api_token_id == token.pk and saved.model == "stub-model"
    assert saved.instructions == "Answer in French." and saved.temperature == 0.3
    path = await path_of(saved.pk)
    assert [(m.role, m.content) for m in path] == [
        ("user", "Hello?"),
        ("assistant", "Bonjour."),
        ("user", "Greet me again"),
        ("assistant", TEXT),
    ]
    assert path[-1].status == "complete" and path[-1].total_tokens == 15
    (sent,) = stub.requests
    # The operator's prompt first, then the client's system message (llm.system_prompt).
    assert [(m["role"], m["content"]) for m in sent["messages"]] == [
        ("system", llm.system_prompt("Answer in French.")),
        *((m["role"], m["content"]) for m in MESSAGES[1:]),
    ]
    assert sent["temperature"] == 0.3
    await wait_for(lambda: no_stream_open(user), what="the answer's follower to leave")


async def test_a_completion_streams_with_usage(stub: OpenAIStub) -> None:
    stub.replies.append(Reply(deltas=DELTAS, usage=USAGE))
    user, _token, client = await api_user()
    response = await complete(client, stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    lines = await data_lines(response)
    assert lines[-1] == "[DONE]"
    first, *deltas, finish, usage = [json.loads(line) for line in lines[:-1]]
    ids = {c["id"] for c in [first, *deltas, finish, usage]}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert all(c["object"] == "chat.completion.chunk" for c in [first, *deltas, finish, usage])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"]["content"] for c in deltas) == TEXT
    assert all(c["choices"][0]["finish_reason"] is None for c in [first, *deltas])
    assert finish["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert usage["choices"] == [] and usage["usage"] == USAGE
    path = await path_of(response["X-Conversation-Id"])
    assert path[-1].content == TEXT and path[-1].status == "complete"
    await wait_for(lambda: no_stream_open(user), what="the stream to leave")


async def test_a_stream_without_include_usage_has_no_usage_chunk(stub: OpenAIStub) -> None:
    stub.replies.append(Reply(deltas=DELTAS))
    _user, _token, client = await api_user()
    lines = await data_lines(await complete(client, stream=True))
    chunks_ = [json.loads(line) for line in lines[:-1]]
    assert lines[-1] == "[DONE]" and all(c["choices"] for c in chunks_)
    assert chunks_[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_cut_off_by_the_token_limit_finishes_with_length(
    stub: OpenAIStub, stream: bool
) -> None:
    stub.replies.append(Reply(deltas=["Once upon", " a time"], finish_reason="length"))
    _user, _token, client = await api_user()
    response = await complete(client, stream=stream)
    if stream:
        lines = await data_lines(response)
        finish = json.loads(lines[-2])
    else:
        finish = response.json()
    assert finish["choices"][0]["finish_reason"] == "length"
    path = await path_of(response["X-Conversation-Id"])
    assert path[-1].finish_reason == "length" and path[-1].content == "Once upon a time"


async def test_a_model_error_mid_stream_is_an_error_payload(stub: OpenAIStub) -> None:
    stub.replies.append(Reply(deltas=["Half ", "an ", "answer"], fail_after=2))
    _user, _token, client = await api_user()
    response = await complete(client, stream=True)
    lines = await data_lines(response)
    assert "[DONE]" not in lines
    error = json.loads(lines[-1])["error"]
    assert error["type"] == "server_error" and error["code"] == "model_error"
    assert error["message"] and error["param"] is None
    sent = [json.loads(line)["choices"][0]["delta"].get("content", "") for line in lines[:-1]]
    path = await path_of(response["X-Conversation-Id"])
    assert path[-1].status == "error" and path[-1].content == "Half an " == "".join(sent)


async def test_a_model_error_without_stream_is_502(stub: OpenAIStub) -> None:
    stub.replies.append(Reply(status=500))
    _user, _token, client = await api_user()
    response = await complete(client)
    assert response.status_code == 502
    error = openai_error_of(response)
    assert (error["type"], error["code"]) == ("server_error", "model_error")
    answer = await Message.objects.filter(role="assistant").alatest("created")
    assert answer.status == "error"


async def test_a_client_that_goes_away_mid_stream_stops_the_answer(stub: OpenAIStub) -> None:
    """Unlike the SSE API's, a /v1 stream's answer has no one else to go to."""
    stub.replies.append(Reply(deltas=[f"w{i} " for i in range(100)], delay=0.03))
    user, _token, client = await api_user()
    response = await complete(client, stream=True)
    stream = Stream(response)
    for _ in range(3):
        await stream.next()
    await stream.drop()
    path = await path_of(response["X-Conversation-Id"])

    async def stopped() -> bool:
        answer = await Message.objects.aget(pk=path[-1].pk)
        return answer.status == "stopped"

    await wait_for(stopped, timeout=10, what="the answer to stop")
    await wait_for(lambda: stub.disconnects == 1, timeout=10, what="the model stream to close")
    await wait_for(lambda: no_stream_open(user), what="the stream to leave")


# --- /v1 refusals, in OpenAI's shape ----------------------------------------------------


async def test_no_token_or_a_bad_token_is_401(stub: OpenAIStub) -> None:
    user = await make_user()
    no_token = await complete(AsyncClient())
    assert no_token.status_code == 401
    assert openai_error_of(no_token)["code"] == "invalid_api_key"
    for raw in ("chat_" + "x" * 43, "not-a-token", "chat_short"):
        response = await complete(bearer_client(raw))
        assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
        assert openai_error_of(response)["code"] == "invalid_api_key"
    assert stub.requests == [] and await conversation_count(user) == 0


async def test_an_unknown_model_is_404_model_not_found(stub: OpenAIStub) -> None:
    user, _token, client = await api_user()
    response = await complete(client, model="gpt-9")
    assert response.status_code == 404
    error = openai_error_of(response)
    assert (error["code"], error["param"]) == ("model_not_found", "model")
    assert await conversation_count(user) == 0


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [{"type": "function"}]}, "tools"),
        ({"n": 2}, "n"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"stream": "yes"}, "stream"),
        ({"temperature": 5}, "temperature"),
    ],
)
async def test_a_bad_body_is_400_naming_the_param(stub: OpenAIStub, body: dict, param: str) -> None:
    user, _token, client = await api_user()
    response = await complete(client, **body)
    assert response.status_code == 400
    error = openai_error_of(response)
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert stub.requests == [] and await conversation_count(user) == 0


async def test_a_body_that_is_not_json_is_400(stub: OpenAIStub) -> None:
    _user, _token, client = await api_user()
    response = await client.post(
        "/v1/chat/completions", data="{nope", content_type="application/json"
    )
    assert response.status_code == 400 and openai_error_of(response)["param"] is None


async def test_a_too_long_message_is_413(stub: OpenAIStub, settings) -> None:
    settings.CHAT_MAX_MESSAGE_CHARS = 20
    user, _token, client = await api_user()
    response = await complete(client, messages=[{"role": "user", "content": "x" * 21}])
    assert response.status_code == 413
    error = openai_error_of(response)
    assert (error["code"], error["param"]) == ("too_long", "messages[0].content")
    assert await conversation_count(user) == 0


async def test_too_many_requests_a_minute_is_429_with_retry_after(
    stub: OpenAIStub, settings
) -> None:
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 1
    user, _token, client = await api_user()
    assert (await complete(client)).status_code == 200
    response = await complete(client)
    assert response.status_code == 429
    error = openai_error_of(response)
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert len(stub.requests) == 1
    assert await conversation_count(user) == 1, "a refused request leaves no conversation"
    await wait_for(lambda: no_stream_open(user), what="the followers to leave")


# --- Tokens on the streaming API --------------------------------------------------------


async def test_a_token_streams_its_users_conversations_and_no_one_elses(
    stub: OpenAIStub,
) -> None:
    stub.replies.append(Reply(deltas=DELTAS))
    user, _token, client = await api_user()
    mine = await make_conversation(user)
    theirs = await make_conversation(await make_user())
    events = await Stream(await post_message(client, mine.pk, content="Hi")).rest()
    assert "".join(chunks(events)) == TEXT
    refused = await post_message(client, theirs.pk, content="Hi")
    assert refused.status_code == 404 and error_of(refused)["code"] == "not_found"
    follow = await client.get(f"/api/conversations/{theirs.pk}/stream/")
    assert follow.status_code == 404 and error_of(follow)["code"] == "not_found"
    answer_id = events[-1].json()["message_id"]
    resume = await client.get(
        f"/api/conversations/{theirs.pk}/stream/", headers={"last-event-id": f"{answer_id}:0"}
    )
    assert resume.status_code == 404
    assert not await Message.objects.filter(conversation=theirs).aexists()
    assert len(stub.requests) == 1
    await wait_for(lambda: no_stream_open(user), what="the stream to leave")


async def test_a_revoked_token_is_401_everywhere(stub: OpenAIStub) -> None:
    user, token, client = await api_user()
    mine = await make_conversation(user)
    assert (await client.get("/v1/models")).status_code == 200
    await revoke(token)
    models = await client.get("/v1/models")
    assert models.status_code == 401 and openai_error_of(models)["code"] == "invalid_api_key"
    completion = await complete(client)
    assert completion.status_code == 401
    assert openai_error_of(completion)["code"] == "invalid_api_key"
    posted = await post_message(client, mine.pk, content="Hi")
    assert posted.status_code == 401 and error_of(posted)["code"] == "not_authenticated"
    follow = await client.get(f"/api/conversations/{mine.pk}/stream/")
    assert follow.status_code == 401 and error_of(follow)["code"] == "not_authenticated"
    assert stub.requests == [] and await conversation_count(user) == 1
