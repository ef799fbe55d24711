"""The OpenAI chat completions format (chat/openai_schema.py): what a request may ask,
what is refused (and named by `param`, as OpenAI does), and the objects sent back."""

from __future__ import annotations

from typing import Any

import pytest

from chat.transports.openai.schema import (
    MAX_MESSAGES,
    BadRequest,
    completion,
    completion_chunk,
    finish_reason,
    model_list,
    parse_request,
    usage,
    usage_chunk,
)

MAX_CHARS = 50
MAX_INSTRUCTIONS = 30


def parse(**fields: Any):
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], **fields}
    return parse_request(body, max_chars=MAX_CHARS, max_instructions=MAX_INSTRUCTIONS)


def refused(body: Any) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        parse_request(body, max_chars=MAX_CHARS, max_instructions=MAX_INSTRUCTIONS)
    assert caught.value.message
    return caught.value


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


# --- Refusals --------------------------------------------------------------------------


@pytest.mark.parametrize("body", [None, [], "text", 3])
def test_a_body_that_is_not_an_object_is_refused(body: Any) -> None:
    error = refused(body)
    assert (error.status, error.param, error.code) == (400, None, "bad_request")


@pytest.mark.parametrize("model", [None, "", 3, ["m"]])
def test_a_missing_or_bad_model_is_refused(model: Any) -> None:
    body: dict[str, Any] = {"messages": [user("Hi")]}
    if model is not None:
        body["model"] = model
    error = refused(body)
    assert (error.status, error.param) == (400, "model")


@pytest.mark.parametrize(
    "name", ["tools", "tool_choice", "functions", "function_call", "audio", "prediction"]
)
def test_unsupported_features_are_refused_by_name(name: str) -> None:
    error = refused({"model": "m", "messages": [user("Hi")], name: [{"type": "function"}]})
    assert (error.status, error.param) == (400, name)
    assert name in error.message


def test_an_unsupported_feature_sent_as_null_is_ignored() -> None:
    assert parse(tools=None, function_call=None).question == "Hi"


@pytest.mark.parametrize("n", [0, 2, "1", True, 1.5])
def test_more_than_one_choice_is_refused(n: Any) -> None:
    error = refused({"model": "m", "messages": [user("Hi")], "n": n})
    assert (error.status, error.param) == (400, "n")


@pytest.mark.parametrize("n", [1, None])
def test_one_choice_is_accepted(n: Any) -> None:
    """n: null is OpenAI's default (one choice), as a null temperature or stream is."""
    assert parse(n=n).question == "Hi"


@pytest.mark.parametrize(
    "response_format", [{"type": "json_object"}, {"type": "json_schema", "json_schema": {}}, "x"]
)
def test_a_response_format_other_than_text_is_refused(response_format: Any) -> None:
    error = refused({"model": "m", "messages": [user("Hi")], "response_format": response_format})
    assert (error.status, error.param) == (400, "response_format")


def test_a_text_response_format_is_accepted() -> None:
    assert parse(response_format={"type": "text"}).question == "Hi"


@pytest.mark.parametrize("stream", [False, None])
def test_stream_options_without_stream_are_refused(stream: Any) -> None:
    body = {"model": "m", "messages": [user("Hi")], "stream_options": {"include_usage": True}}
    if stream is not None:
        body["stream"] = stream
    error = refused(body)
    assert (error.status, error.param) == (400, "stream_options")


def test_stream_options_that_are_not_an_object_are_refused() -> None:
    error = refused({"model": "m", "messages": [user("Hi")], "stream": True, "stream_options": 1})
    assert error.param == "stream_options"


@pytest.mark.parametrize("stream", ["true", 1, 0, [], {}])
def test_a_stream_flag_that_is_not_a_boolean_is_refused(stream: Any) -> None:
    error = refused({"model": "m", "messages": [user("Hi")], "stream": stream})
    assert (error.status, error.param) == (400, "stream")


def test_an_include_usage_that_is_not_a_boolean_is_refused() -> None:
    body = {
        "model": "m",
        "messages": [user("Hi")],
        "stream": True,
        "stream_options": {"include_usage": "yes"},
    }
    assert refused(body).param == "stream_options.include_usage"


@pytest.mark.parametrize("temperature", [True, False, "0.5", -0.1, 2.01, 3, [1], 1e308 * 10])
def test_a_bad_temperature_is_refused(temperature: Any) -> None:
    error = refused({"model": "m", "messages": [user("Hi")], "temperature": temperature})
    assert (error.status, error.param) == (400, "temperature")


@pytest.mark.parametrize("messages", [None, "Hi", {"role": "user", "content": "Hi"}, []])
def test_messages_that_are_not_a_non_empty_list_are_refused(messages: Any) -> None:
    body: dict[str, Any] = {"model": "m"}
    if messages is not None:
        body["messages"] = messages
    error = refused(body)
    assert (error.status, error.param) == (400, "messages")


def test_too_many_messages_are_refused() -> None:
    messages = [user("Hi"), {"role": "assistant", "content": "Hello"}] * MAX_MESSAGES
    error = refused({"model": "m", "messages": [*messages, user("Hi")]})
    assert (error.status, error.param) == (400, "messages")
    assert str(MAX_MESSAGES) in error.message


def test_the_most_messages_allowed_are_accepted() -> None:
    messages = [
        user("Hi") if i % 2 == 0 else {"role": "assistant", "content": "Yo"}
        for i in range(MAX_MESSAGES - 1)
    ]
    parsed = parse(messages=messages)
    assert len(parsed.history) == MAX_MESSAGES - 2 and parsed.question == "Hi"


@pytest.mark.parametrize("message", ["Hi", None, ["user", "Hi"]])
def test_a_message_that_is_not_an_object_is_refused(message: Any) -> None:
    error = refused({"model": "m", "messages": [user("Hi"), message]})
    assert (error.status, error.param) == (400, "messages[1]")


@pytest.mark.parametrize("role", ["tool", "function", "robot", None, 3])
def test_an_unsupported_role_is_refused(role: Any) -> None:
    message: dict[str, Any] = {"content": "x", "tool_call_id": "call_1"}
    if role is not None:
        message["role"] = role
    error = refused({"model": "m", "messages": [message, user("Hi")]})
    assert (error.status, error.param) == (400, "messages[0].role")


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
        [{"type": "text", "text": "Look:"}, {"type": "input_audio", "input_audio": {}}],
        [{"type": "text"}],
        [{"type": "text", "text": 3}],
        ["plain string part"],
        [],
        None,
        3,
    ],
    ids=[
        "image",
        "audio-after-text",
        "no-text",
        "text-not-a-string",
        "bare-string",
        "empty",
        "none",
        "number",
    ],
)
def test_content_other_than_text_is_refused(content: Any) -> None:
    error = refused({"model": "m", "messages": [user(content)]})
    assert (error.status, error.param) == (400, "messages[0].content")


def test_a_too_long_message_is_413_too_long() -> None:
    error = refused({"model": "m", "messages": [user("x" * (MAX_CHARS + 1))]})
    assert (error.status, error.code, error.param) == (413, "too_long", "messages[0].content")
    assert parse(messages=[user("x" * MAX_CHARS)]).question == "x" * MAX_CHARS


def test_a_too_long_history_message_is_413_too_long() -> None:
    messages = [{"role": "assistant", "content": "y" * (MAX_CHARS + 1)}, user("Hi")]
    error = refused({"model": "m", "messages": messages})
    assert (error.status, error.code, error.param) == (413, "too_long", "messages[0].content")


def test_too_long_system_instructions_are_413() -> None:
    """Each system message is short enough; joined, they are too long."""
    half = "s" * (MAX_INSTRUCTIONS // 2 + 1)
    messages = [{"role": "system", "content": half}, {"role": "developer", "content": half}]
    error = refused({"model": "m", "messages": [*messages, user("Hi")]})
    assert (error.status, error.param) == (413, "messages")


@pytest.mark.parametrize(
    "messages",
    [
        [user("Hi"), {"role": "assistant", "content": "Hello"}],
        [{"role": "system", "content": "Be brief."}],
    ],
    ids=["ends-with-assistant", "only-system"],
)
def test_the_last_message_must_be_the_users(messages: list[dict[str, Any]]) -> None:
    error = refused({"model": "m", "messages": messages})
    assert (error.status, error.param) == (400, "messages")


@pytest.mark.parametrize("content", ["", "   \n\t", [{"type": "text", "text": " "}]])
def test_an_empty_user_message_is_refused(content: Any) -> None:
    error = refused({"model": "m", "messages": [user(content)]})
    assert (error.status, error.param) == (400, "messages[0].content")


def test_an_empty_assistant_message_in_the_history_is_refused() -> None:
    messages = [user("Hi"), {"role": "assistant", "content": ""}, user("Again")]
    assert refused({"model": "m", "messages": messages}).param == "messages[1].content"


# --- What is accepted ------------------------------------------------------------------


def test_the_smallest_request() -> None:
    parsed = parse()
    assert parsed.model == "m" and parsed.question == "Hi"
    assert (parsed.instructions, parsed.history) == ("", [])
    assert (parsed.stream, parsed.include_usage, parsed.temperature) == (False, False, None)


def test_system_and_developer_messages_are_joined_as_the_instructions() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        user("Hi"),
        {"role": "assistant", "content": "Hello!"},
        {"role": "developer", "content": "Use French."},
        user("How are you?"),
    ]
    parsed = parse_request(
        {"model": "m", "messages": messages}, max_chars=MAX_CHARS, max_instructions=100
    )
    assert parsed.instructions == "Be brief.\n\nUse French."
    assert parsed.history == [("user", "Hi"), ("assistant", "Hello!")]
    assert parsed.question == "How are you?"


def test_history_pairs_keep_their_order() -> None:
    messages = [
        user("One"),
        {"role": "assistant", "content": "1"},
        user("Two"),
        {"role": "assistant", "content": "2"},
        user("Three"),
    ]
    parsed = parse(messages=messages)
    assert parsed.history == [
        ("user", "One"),
        ("assistant", "1"),
        ("user", "Two"),
        ("assistant", "2"),
    ]
    assert parsed.question == "Three"


def test_text_part_arrays_are_joined() -> None:
    content = [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}]
    system = {"role": "system", "content": [{"type": "text", "text": "Be kind."}]}
    parsed = parse(messages=[system, user(content)])
    assert parsed.question == "Hello, world" and parsed.instructions == "Be kind."


def test_an_empty_system_message_is_allowed() -> None:
    assert parse(messages=[{"role": "system", "content": ""}, user("Hi")]).instructions == ""


@pytest.mark.parametrize(("given", "kept"), [(None, None), (0, 0.0), (2, 2.0), (0.7, 0.7)])
def test_temperature(given: Any, kept: float | None) -> None:
    temperature = parse(temperature=given).temperature
    assert temperature == kept and (kept is None or isinstance(temperature, float))


def test_stream_with_and_without_usage() -> None:
    assert (parse(stream=True).stream, parse(stream=True).include_usage) == (True, False)
    options = parse(stream=True, stream_options={"include_usage": True})
    assert (options.stream, options.include_usage) == (True, True)
    assert parse(stream=None).stream is False
    assert parse(stream=True, stream_options={}).include_usage is False


# --- Answers ---------------------------------------------------------------------------

TOKENS = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}


def test_completion_chunk_shape() -> None:
    chunk = completion_chunk("chatcmpl-1", 1700, "m", {"content": "Hi"})
    assert chunk == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700,
        "model": "m",
        "system_fingerprint": None,
        "choices": [
            {"index": 0, "delta": {"content": "Hi"}, "logprobs": None, "finish_reason": None}
        ],
    }
    last = completion_chunk("chatcmpl-1", 1700, "m", {}, "stop")
    assert last["choices"][0]["finish_reason"] == "stop" and last["choices"][0]["delta"] == {}


def test_usage_chunk_shape() -> None:
    chunk = usage_chunk("chatcmpl-1", 1700, "m", TOKENS)
    assert chunk["object"] == "chat.completion.chunk" and chunk["choices"] == []
    assert chunk["usage"] == TOKENS and (chunk["id"], chunk["model"]) == ("chatcmpl-1", "m")
    assert usage_chunk("chatcmpl-1", 1700, "m", None)["usage"] is None


def test_completion_shape() -> None:
    body = completion("chatcmpl-1", 1700, "m", "Hello there.", "length", TOKENS)
    assert body == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700,
        "model": "m",
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there.", "refusal": None},
                "logprobs": None,
                "finish_reason": "length",
            }
        ],
        "usage": TOKENS,
    }


def test_model_list_shape() -> None:
    assert model_list(["a", "b"], "owner") == {
        "object": "list",
        "data": [
            {"id": "a", "object": "model", "created": 0, "owned_by": "owner"},
            {"id": "b", "object": "model", "created": 0, "owned_by": "owner"},
        ],
    }
    assert model_list([], "owner") == {"object": "list", "data": []}


@pytest.mark.parametrize(
    ("end", "reason"),
    [
        ({"finish_reason": "length"}, "length"),
        ({"finish_reason": "stop"}, "stop"),
        ({"finish_reason": "content_filter"}, "stop"),
        ({}, "stop"),
    ],
)
def test_finish_reason(end: dict[str, Any], reason: str) -> None:
    assert finish_reason(end) == reason


def test_usage_in_openai_names() -> None:
    ours = {"input_tokens": 11, "output_tokens": 4, "total_tokens": 15}
    assert usage(ours) == TOKENS
    assert usage(None) is None and usage({}) is None
