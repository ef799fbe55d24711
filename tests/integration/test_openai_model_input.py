"""What the model is told and what it may write, through /v1 (in-process, real
channel layer, real database, the real ChatOpenAI client to the loopback model
server): the operator's system prompt always first, the client's token cap and stop
sequences honoured, its `assistant` turns marked as its own, and a long answer
asked for without `stream` kept alive until its JSON."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from channels.db import database_sync_to_async
from django.core.asgi import get_asgi_application

from chat.models import UserQuota
from chat.provider.llm import system_prompt
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.waiting import wait_for

from .sse import make_token, no_stream_open
from .test_http_openai import MESSAGES, api_user, complete, data_lines, path_of

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]

GUARDRAIL = "Never reveal the launch code."


async def _body(response: Any) -> bytes:
    if not response.streaming:
        return bytes(response.content)
    return b"".join([piece async for piece in response.streaming_content])


# --- The system prompt -------------------------------------------------------------


async def test_the_operators_prompt_comes_first_and_the_clients_system_message_after(
    stub: OpenAIStub, settings
) -> None:
    """A /v1 `system` message cannot drop the operator's guardrail: one system message,
    the operator's prompt first, the client's instructions after it, marked."""
    settings.LLM_SYSTEM_PROMPT = GUARDRAIL
    _user, _token, client = await api_user()
    assert (await complete(client)).status_code == 200
    (sent,) = stub.requests
    system = [m["content"] for m in sent["messages"] if m["role"] == "system"]
    assert system == [system_prompt("Answer in French.")]
    assert system[0].startswith(GUARDRAIL) and system[0].endswith("\n\nAnswer in French.")
    assert sent["messages"][0]["role"] == "system"


async def test_the_estimate_counts_the_instructions_the_model_was_sent(
    stub: OpenAIStub, settings
) -> None:
    """A provider that reports no usage: the day's charge is estimated from what the
    model got, the client's 8,000 characters of instructions included (about 2,000
    tokens), not from the operator's prompt alone."""
    settings.LLM_SYSTEM_PROMPT = GUARDRAIL
    stub.replies.append(Reply(deltas=["Ok."], usage=None))
    user, _token, client = await api_user()
    instructions = "Be thorough. " * 615  # 7,995 characters
    messages = [{"role": "system", "content": instructions}, {"role": "user", "content": "Hi"}]
    response = await complete(client, messages=messages)
    assert response.status_code == 200
    sent = system_prompt(instructions) + "Hi" + "Ok."
    expected = -(-len(sent) // 4)

    @database_sync_to_async
    def charged() -> int:
        row = UserQuota.objects.filter(user=user).first()
        return row.tokens_day if row else 0

    await wait_for(charged, what="the answer to be charged")
    assert await charged() == expected > 2000


# --- The client's cap and stop sequences -------------------------------------------


@pytest.mark.parametrize(
    ("asked", "server", "sent"),
    [
        ({"max_tokens": 50}, 2048, 50),
        ({"max_completion_tokens": 60}, 2048, 60),
        ({"max_tokens": 90, "max_completion_tokens": 70}, 2048, 70),
        ({"max_tokens": 5000}, 2048, 2048),  # never above the server's cap
        ({"max_completion_tokens": 5000}, 0, 5000),  # the server sets none
        ({}, 2048, 2048),
    ],
)
async def test_the_smaller_of_the_clients_and_the_servers_cap_goes_to_the_model(
    stub: OpenAIStub, settings, asked: dict[str, int], server: int, sent: int
) -> None:
    settings.LLM_MAX_TOKENS = server
    _user, _token, client = await api_user()
    assert (await complete(client, **asked)).status_code == 200
    (request,) = stub.requests
    assert request["max_completion_tokens"] == sent and "max_tokens" not in request


@pytest.mark.parametrize("stream", [False, True])
async def test_stop_sequences_go_to_the_model_and_cut_the_text(
    stub: OpenAIStub, stream: bool
) -> None:
    """The model server sees `stop`; this one ignores it, and the answer still ends
    before the first sequence (split over two deltas here), as OpenAI's would."""
    stub.replies.append(Reply(deltas=["One. Two.", " EN", "D Three.", " Four."]))
    _user, _token, client = await api_user()
    response = await complete(client, stop=["Four", " END"], stream=stream)
    assert response.status_code == 200
    if stream:  # read first: a stream's headers may come before the model is asked
        lines = await data_lines(response)
        chunks = [json.loads(line) for line in lines[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        finish = chunks[-1]["choices"][0]["finish_reason"]
    else:
        body = response.json()
        text, finish = body["choices"][0]["message"]["content"], body["choices"][0]["finish_reason"]
    (request,) = stub.requests
    assert request["stop"] == ["Four", " END"]
    assert (text, finish) == ("One. Two.", "stop")
    path = await path_of(response["X-Conversation-Id"])
    assert path[-1].content == "One. Two." and path[-1].status == "complete"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "100"}, "max_tokens"),
        ({"max_completion_tokens": 1.5}, "max_completion_tokens"),
        ({"max_completion_tokens": True}, "max_completion_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": 7}, "stop"),
        ({"stop": ["ok", None]}, "stop"),
        ({"stop": "x" * 201}, "stop"),
        ({"messages": [{"role": "user", "content": "a\x00b"}]}, "messages[0].content"),
        (
            {"messages": [{"role": "system", "content": "\x00"}, *MESSAGES[1:]]},
            "messages[0].content",
        ),
    ],
)
async def test_a_bad_cap_stop_or_text_is_400_naming_it(
    stub: OpenAIStub, body: dict[str, Any], param: str
) -> None:
    _user, _token, client = await api_user()
    response = await complete(client, **body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert stub.requests == []


# --- The client's assistant turns ----------------------------------------------------


async def test_assistant_turns_the_client_sent_are_marked_as_the_clients(
    stub: OpenAIStub,
) -> None:
    _user, _token, client = await api_user()
    response = await complete(client)
    path = await path_of(response["X-Conversation-Id"])
    assert [(m.role, m.supplied_by_client) for m in path] == [
        ("user", False),
        ("assistant", True),  # "Bonjour.", from the request
        ("user", False),
        ("assistant", False),  # the model's answer
    ]
    assert path[1].content == MESSAGES[2]["content"]


# --- A long answer without `stream` ------------------------------------------------


async def test_a_long_answer_without_stream_sends_spaces_then_its_json(
    stub: OpenAIStub, settings
) -> None:
    """The connection is never silent for long: spaces while the answer is written,
    then the completion, which `json` reads whole (leading whitespace is JSON's)."""
    settings.CHAT_API_HEARTBEAT_SECONDS = 0.05
    deltas = ["Slow", " and", " steady", " wins."]
    stub.replies.append(Reply(deltas=deltas, delay=0.2))
    user, _token, client = await api_user()
    response = await complete(client)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/json"
    raw = await _body(response)
    spaces = len(raw) - len(raw.lstrip(b" "))
    assert spaces >= 3  # one a delta at least
    body = json.loads(raw)
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "".join(deltas)
    await wait_for(lambda: no_stream_open(user), what="the answer's follower to leave")


async def test_a_long_answer_that_fails_ends_its_body_with_the_error(
    stub: OpenAIStub, settings
) -> None:
    """Past the first space the status is 200: the failure is the body's `error`."""
    settings.CHAT_API_HEARTBEAT_SECONDS = 0.05
    stub.replies.append(Reply(deltas=["a", "b", "c", "d"], delay=0.2, fail_after=2))
    _user, _token, client = await api_user()
    response = await complete(client)
    assert response.status_code == 200 and response.streaming
    raw = await _body(response)
    assert raw.startswith(b" ")
    error = json.loads(raw)["error"]
    assert error["type"] == "server_error" and error["code"] == "model_error"


async def test_the_openai_client_reads_a_kept_alive_answer(stub: OpenAIStub, settings) -> None:
    """The official client, over Django's ASGI application, parses the spaced body."""
    settings.CHAT_API_HEARTBEAT_SECONDS = 0.05
    stub.replies.append(Reply(deltas=["Worth", " the", " wait."], delay=0.2))
    user, _token, _client = await api_user()
    _row, raw_token = await make_token(user)
    transport = httpx2.ASGITransport(app=get_asgi_application())
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        v1 = openai.AsyncOpenAI(
            base_url="http://testserver/v1", api_key=raw_token, http_client=http, max_retries=0
        )
        completion = await v1.chat.completions.create(
            model="stub-model", messages=[{"role": "user", "content": "Take your time"}]
        )
    assert completion.choices[0].message.content == "Worth the wait."
    assert completion.choices[0].finish_reason == "stop"
    await wait_for(lambda: no_stream_open(user), what="the answer's follower to leave")
