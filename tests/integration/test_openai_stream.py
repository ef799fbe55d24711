"""The real ChatOpenAI client streaming from an OpenAI-compatible server on loopback."""

from __future__ import annotations

import json

import pytest

from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.waiting import wait_for

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


async def exchange(ws, content: str) -> list[dict]:
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": content}))
    return await receive_until(ws, "end")


async def test_chatopenai_streams_deltas_usage_and_split_characters(stub: OpenAIStub) -> None:
    """Deltas that cut emoji sequences and combining marks, and TCP writes that cut
    UTF-8 bytes, arrive intact; usage from the final chunk is saved."""
    deltas = ["こん", "にちは。", " Thumbs 👍", "🏽 and cafe", "\u0301!", "\n二行目", "です"]
    stub.replies.append(Reply(deltas=deltas))
    user = await make_user()
    conversation = await make_conversation(user)
    ws = await open_socket(user, conversation, "token")
    history = await receive(ws)
    assert history["model"] == "stub-model"
    frames = await exchange(ws, "Say hello in Japanese")
    start = frames[1]
    assert start == {
        "type": "start",
        "message_id": start["message_id"],
        "model": "stub-model",
        "parent_id": start["parent_id"],
        "siblings": [start["message_id"]],
    }
    answer = await saved(start["message_id"])
    assert answer.content == "".join(deltas) == chunk_text(frames, str(answer.pk))
    assert answer.status == "complete" and answer.model_name == "stub-model"
    assert (answer.input_tokens, answer.output_tokens, answer.total_tokens) == (11, 4, 15)
    assert frames[-1]["usage"] == {"input_tokens": 11, "output_tokens": 4, "total_tokens": 15}
    request = stub.requests[0]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert request["model"] == "stub-model"
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    await ws.disconnect()


async def test_earlier_messages_go_to_the_model_as_context(stub: OpenAIStub) -> None:
    """The second question is sent with the first exchange before it."""
    stub.replies += [Reply(deltas=["First answer."]), Reply(deltas=["Second answer."])]
    _user, _conversation, ws = await open_chat()
    await exchange(ws, "First question")
    await exchange(ws, "Second question")
    sent = [(m["role"], m["content"]) for m in stub.requests[1]["messages"]]
    assert sent[1:] == [
        ("user", "First question"),
        ("assistant", "First answer."),
        ("user", "Second question"),
    ]
    await ws.disconnect()


async def test_history_budget_drops_the_oldest_messages(stub: OpenAIStub, settings) -> None:
    settings.CHAT_HISTORY_CHAR_BUDGET = 45
    stub.replies += [Reply(deltas=["A" * 30]), Reply(deltas=["ok"])]
    _user, _conversation, ws = await open_chat()
    await exchange(ws, "Old question that is long enough")
    await exchange(ws, "New question")
    sent = [(m["role"], m["content"]) for m in stub.requests[1]["messages"]]
    assert sent == [
        ("system", settings.LLM_SYSTEM_PROMPT),
        ("assistant", "A" * 30),
        ("user", "New question"),
    ]
    await ws.disconnect()


@pytest.mark.parametrize(
    ("reply", "code", "partial"),
    [
        (Reply(status=429), "rate_limited", ""),
        (Reply(status=500), "model_error", ""),
        (Reply(deltas=["Half ", "an ", "answer"], fail_after=2), "model_error", "Half an "),
        (Reply(deltas=["Slow ", "start ", "then nothing"], hang_after=2), "timeout", "Slow start "),
    ],
    ids=["rate-limited", "server-error", "dropped-mid-stream", "stalled"],
)
async def test_provider_failures_end_in_a_saved_error(
    stub: OpenAIStub, settings, reply: Reply, code: str, partial: str
) -> None:
    """Every provider failure: a readable error frame, status error, partial text kept."""
    settings.LLM_TIMEOUT_SECONDS = 1.0
    stub.replies.append(reply)
    _user, _conversation, ws = await open_chat("sentence")
    frames = await exchange(ws, "Trigger a failure")
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == code and error["message"]
    assert "Traceback" not in error["message"] and "stub error" not in error["message"]
    answer = await saved(frames[1]["message_id"])
    assert answer.status == "error" == frames[-1]["status"]
    assert answer.content == partial == chunk_text(frames, str(answer.pk))
    assert answer.error == error["message"]
    await ws.disconnect()


async def test_stop_closes_the_provider_stream(stub: OpenAIStub) -> None:
    """Stopping a ChatOpenAI answer keeps what arrived and marks it stopped."""
    stub.replies.append(Reply(deltas=[f"w{i} " for i in range(200)], delay=0.02))
    _user, _conversation, ws = await open_chat()
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": "Long one"}))
    frames = await receive_until(ws, "chunk")
    await ws.send_to(text_data=json.dumps({"type": "stop"}))
    frames += await receive_until(ws, "end")
    answer = await saved(frames[1]["message_id"])
    assert answer.status == "stopped"
    assert 0 < len(answer.content) < len("".join(f"w{i} " for i in range(200)))
    assert chunk_text(frames, str(answer.pk)) == answer.content
    # The stub notices that the client closed the stream at its next delta write.
    await wait_for(lambda: stub.disconnects, timeout=5, what="the stub to see the stream closed")
    assert stub.disconnects == 1
    await ws.disconnect()


async def test_answers_are_capped_at_the_max_tokens_setting(stub: OpenAIStub, settings) -> None:
    settings.LLM_MAX_TOKENS = 321
    stub.replies.append(Reply(deltas=["Short."]))
    _user, _conversation, ws = await open_chat()
    await exchange(ws, "Be brief")
    body = stub.requests[-1]
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 321
    await ws.disconnect()
