"""The server's own delay before the model is asked, by phase (issue #26): each door's
answer observes `chat_answer_start_seconds` once per phase, and its `total` is the
sum of them; a refused message and a start with no door observe nothing. Real
sockets and HTTP, the real ChatOpenAI client against the loopback model server."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY

from tests.support.openai_stub import OpenAIStub

from .conftest import make_conversation, make_user, open_socket, receive, receive_until
from .sse import Stream, bearer_client, make_token, post_message, session_client

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]

PHASES = {"websocket": ["auth", "exchange", "begin"], "sse": ["auth", "exchange", "begin"]}
PHASES["v1"] = PHASES["sse"]


def observed(door: str) -> dict[str, tuple[float, float]]:
    """(count, sum) of each phase of `door`, the total included."""
    found = {}
    for phase in [*PHASES[door], "total"]:
        labels = {"door": door, "phase": phase}
        count = REGISTRY.get_sample_value("chat_answer_start_seconds_count", labels) or 0.0
        total = REGISTRY.get_sample_value("chat_answer_start_seconds_sum", labels) or 0.0
        found[phase] = (count, total)
    return found


def grew(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]) -> dict:
    return {p: (after[p][0] - before[p][0], after[p][1] - before[p][1]) for p in after}


def check_one_start(door: str, delta: dict[str, tuple[float, float]]) -> None:
    assert {p: n for p, (n, _) in delta.items()} == dict.fromkeys([*PHASES[door], "total"], 1.0)
    phases = sum(seconds for p, (_, seconds) in delta.items() if p != "total")
    assert delta["total"][1] == pytest.approx(phases, abs=1e-6)
    assert 0 < delta["total"][1] < 10


async def test_a_socket_message_observes_each_phase_once(stub: OpenAIStub) -> None:
    user = await make_user()
    conversation = await make_conversation(user)
    ws = await open_socket(user, conversation)
    assert (await receive(ws))["type"] == "history"
    before = observed("websocket")
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": "Hi"}))
    assert (await receive_until(ws, "end"))[-1]["status"] == "complete"
    check_one_start("websocket", grew(before, observed("websocket")))
    # A frame that starts nothing (a ping), or a refused message: nothing observed.
    before = observed("websocket")
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    assert (await receive(ws))["type"] == "pong"
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": "   "}))
    assert (await receive(ws))["type"] == "error"
    assert all(n == 0 for n, _ in grew(before, observed("websocket")).values())
    await ws.disconnect()


async def test_sse_and_v1_observe_each_phase_once(stub: OpenAIStub) -> None:
    user = await make_user()
    conversation = await make_conversation(user)
    before = observed("sse")
    response = await post_message(await session_client(user), conversation.pk, content="Hi")
    assert response.status_code == 200
    await Stream(response).rest()
    check_one_start("sse", grew(before, observed("sse")))

    _, raw = await make_token(user)
    before = observed("v1")
    body = {"model": "stub-model", "messages": [{"role": "user", "content": "Hi"}]}
    answered = await bearer_client(raw).post(
        "/v1/chat/completions", data=json.dumps(body), content_type="application/json"
    )
    assert answered.status_code == 200
    check_one_start("v1", grew(before, observed("v1")))
