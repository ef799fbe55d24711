"""Fuzz the HTTP APIs' pure parsers: any JSON a client sends to /v1/chat/completions is
either a request or a BadRequest with a status the gateway sends (never another
exception), and any Last-Event-ID is a Position or None."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chat.streaming.stream.follow import Position
from chat.transports.openai.schema import (
    MAX_STOPS,
    BadRequest,
    CompletionRequest,
    parse_request,
)
from tests.support.fuzz import examples

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
roles = st.sampled_from(["system", "developer", "user", "assistant", "tool", "", "USER"])
messages = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"role": roles},
            optional={
                "content": st.one_of(
                    st.text(max_size=60),
                    st.lists(
                        st.fixed_dictionaries(
                            {"type": st.sampled_from(["text", "image_url"])},
                            optional={"text": st.one_of(st.text(max_size=20), json_values)},
                        ),
                        max_size=3,
                    ),
                    json_values,
                )
            },
        ),
        json_values,
    ),
    max_size=5,
)
requests = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "model": st.one_of(st.just("demo-offline"), json_values),
            "messages": st.one_of(messages, json_values),
            "stream": json_values,
            "stream_options": st.one_of(
                st.fixed_dictionaries({}, optional={"include_usage": json_values}), json_values
            ),
            "temperature": st.one_of(st.floats(), json_values),
            "max_tokens": st.one_of(st.integers(), json_values),
            "max_completion_tokens": st.one_of(st.integers(), json_values),
            "stop": st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5)), json_values),
            "n": json_values,
            "tools": json_values,
            "response_format": json_values,
        },
    ),
)


@hypothesis_settings(max_examples=examples(2000), deadline=None)
@given(requests)
def test_any_body_is_a_request_or_a_clear_refusal(data: object) -> None:
    try:
        asked = parse_request(data, max_chars=50, max_instructions=80)
    except BadRequest as exc:
        assert exc.status in (400, 413)
        assert exc.message
        return
    assert isinstance(asked, CompletionRequest)
    assert asked.question.strip() and len(asked.question) <= 50
    assert all(role in ("user", "assistant") for role, _ in asked.history)
    assert asked.temperature is None or 0 <= asked.temperature <= 2
    assert asked.max_tokens is None or asked.max_tokens >= 1
    assert len(asked.stop) <= MAX_STOPS and all(isinstance(s, str) and s for s in asked.stop)


@hypothesis_settings(max_examples=examples(1000), deadline=None)
@given(st.text(max_size=120))
def test_any_last_event_id_is_a_position_or_none(value: str) -> None:
    position = Position.parse(value)
    if position is not None:
        assert position.offset >= 0 and 0 < len(position.message_id) <= 64
        assert Position.parse(str(position)) == position
