"""Fuzz: random and malformed frames at one chat socket (real Redis layer, real
database). After every frame the socket still answers `ping`; at the end no answer is
left `streaming`, no user message is saved without its answer, and nothing was logged
at ERROR. CI runs 2,000 frames; `make fuzz` 10,000 (FUZZ_EXAMPLES)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Coroutine
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chat.models import Conversation, Message
from chat.provider.llm import close_chat_models
from chat.streaming.answer.registry import wait_for_answers
from chatsite.settings import redis_channel_layer
from tests.support.fuzz import examples

from .conftest import open_socket

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = examples(2000)  # `make fuzz`: 10,000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
frame_types = st.sampled_from(
    [
        "user_message", "stop", "set_chunking", "ping", "load_older", "edit", "regenerate",
        "continue", "switch", "", "USER_MESSAGE", "x",
    ]
)  # fmt: skip
shaped = st.fixed_dictionaries(
    {"type": frame_types},
    optional={
        "content": st.one_of(st.text(max_size=40), json_values, st.just("/echo fuzz")),
        "client_id": st.one_of(st.text(max_size=70), json_values),
        "mode": st.one_of(st.sampled_from(["token", "line", "sentence", "clause"]), json_values),
        "before": st.one_of(st.text(max_size=40), json_values),
        "message_id": st.one_of(st.uuids().map(str), st.text(max_size=70), json_values),
    },
)
pathological = st.sampled_from(
    [
        "[" * 5000 + "]" * 5000,
        '{"a":' * 3000 + "1" + "}" * 3000,
        '{"type": "ping", "n": 1e999999}',
        '{"type": "ping", "n": ' + "9" * 5000 + "}",
        '{"type": "user_message", "content": NaN}',
        '{"type": "user_message", "content": "' + "x" * 17000 + '"}',
        "\x00\x01\x02",
        # U+0000 in saved text (PostgreSQL refuses it): found at 10,000 examples.
        '{"type": "user_message", "content": "a\\u0000b"}',
        '{"type": "user_message", "content": "ok", "client_id": "x\\u0000"}',
        '{"type": "ping"',
    ]
)
texts = st.one_of(
    shaped.map(lambda d: json.dumps(d, allow_nan=True)),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.text(max_size=60),
    pathological,
)
# (Channels' test communicator cannot send an empty frame.)
frames_in = st.one_of(
    texts.filter(bool).map(lambda t: ("text", t)),
    st.binary(min_size=1, max_size=40).map(lambda b: ("bytes", b)),
)


class LoopThread:
    """One event loop in a thread for the whole fuzz run: the socket lives on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        """Cancel what still runs on the loop (and let it finish), then stop it: nothing
        of this loop may outlive the test (the answers' registry is process-wide)."""

        async def cancel_the_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        self.run(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


async def still_answers(ws) -> None:
    """Send `ping`; frames of answers may come first; `pong` must come."""
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    while True:
        frame = json.loads(await ws.receive_from(timeout=20))
        assert frame["type"] in {"pong", "message", "start", "chunk", "end", "error", "older"}
        if frame["type"] == "error":
            assert "Traceback" not in frame["message"] and frame["code"] != "server_error", frame
        if frame["type"] == "pong":
            return


def test_random_and_malformed_frames_never_break_the_socket(redis_url, settings, caplog) -> None:
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(redis_url, "pubsub")}
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"fuzz-{uuid.uuid4().hex[:8]}"
    settings.DEMO_TOKEN_DELAY_MS = 0
    settings.CHAT_FRAMES_PER_SECOND = 1e9  # the frame budget is tested elsewhere
    settings.CHAT_FRAME_BURST = 10**9
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 10**6
    user = get_user_model().objects.create_user(f"fuzz-{uuid.uuid4().hex[:6]}")
    conversation = Conversation.objects.create(owner=user)
    runner = LoopThread()
    ws = runner.run(open_socket(user, conversation))
    runner.run(ws.receive_from(timeout=10))  # the history
    seen = {"examples": 0}

    @hypothesis_settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(frame=frames_in)
    def one_frame(frame: tuple[str, Any]) -> None:
        kind, payload = frame
        if kind == "text":
            runner.run(ws.send_to(text_data=payload))
        else:
            runner.run(ws.send_to(bytes_data=payload))
        runner.run(still_answers(ws))
        seen["examples"] += 1

    try:
        one_frame()
        runner.run(wait_for_answers(timeout=60))
        runner.run(ws.disconnect())
        runner.run(wait_for_answers(timeout=60))
        runner.run(close_chat_models())
    finally:
        runner.stop()
    assert seen["examples"] >= EXAMPLES
    messages = list(Message.objects.filter(conversation=conversation).order_by("created"))
    assert not [m for m in messages if m.status == "streaming"]
    users = [m for m in messages if m.role == "user"]
    answers = [m for m in messages if m.role == "assistant"]
    assert len(users) == len(answers)  # no user message without its answer
    assert all(a.status in {"complete", "stopped", "error"} for a in answers)
    # Zero server errors: nothing was logged at ERROR (an unhandled exception is).
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors[:5]]
