"""Client frames: what parse_frame accepts, what it refuses and with which error code."""

import json

import pytest

from chat.errors import ErrorCode, Refusal
from chat.streaming.delivery.chunking import MODES
from chat.streaming.delivery.frames import error_frame
from chat.streaming.delivery.protocol import (
    NUL_REFUSED,
    Hush,
    Ping,
    SetChunking,
    SetVoice,
    Stop,
    UserMessage,
    max_frame_chars,
    parse_chunk_mode,
    parse_frame,
)

MODES_TEXT = "Chunking mode must be one of: token, line, sentence, clause."


def frame(**data) -> str:
    return json.dumps(data)


@pytest.fixture(autouse=True)
def message_limit(settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 100
    return 100


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (frame(type="user_message", content="Hello"), UserMessage("Hello", None)),
        (frame(type="user_message", content=" Hi\n", client_id="c-1"), UserMessage(" Hi\n", "c-1")),
        (frame(type="user_message", content="Hi", client_id=None), UserMessage("Hi", None)),
        (frame(type="user_message", content="Hi", client_id="x"), UserMessage("Hi", "x")),
        (frame(type="user_message", content="Hi", client_id="x" * 64), UserMessage("Hi", "x" * 64)),
        (frame(type="user_message", content="x" * 100), UserMessage("x" * 100, None)),
        (frame(type="user_message", content="日本語", extra=1), UserMessage("日本語", None)),
        (frame(type="stop"), Stop()),
        (frame(type="ping"), Ping()),
        (frame(type="hush"), Hush()),
        (frame(type="set_voice", on=True), SetVoice(True, "clause", None)),
        (frame(type="set_voice", on=False, mode="sentence"), SetVoice(False, "sentence", None)),
        (frame(type="set_voice", on=True, voice=""), SetVoice(True, "clause", None)),
        (frame(type="set_voice", on=True, voice="en-us+f3"), SetVoice(True, "clause", "en-us+f3")),
        (frame(type="set_voice", on=True, voice="8"), SetVoice(True, "clause", "8")),
        *((frame(type="set_chunking", mode=mode), SetChunking(mode)) for mode in MODES),
    ],
)
def test_every_frame_type_is_parsed(text, expected):
    assert parse_frame(text) == expected


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        (None, ErrorCode.BAD_FRAME, "Only JSON text frames are accepted."),
        ("not json", ErrorCode.BAD_FRAME, "The frame is not valid JSON."),
        ("", ErrorCode.BAD_FRAME, "The frame is not valid JSON."),
        ('{"type": "ping"', ErrorCode.BAD_FRAME, "The frame is not valid JSON."),
        ("[1, 2]", ErrorCode.BAD_FRAME, 'A frame must be a JSON object with a "type".'),
        ('"ping"', ErrorCode.BAD_FRAME, 'A frame must be a JSON object with a "type".'),
        ("null", ErrorCode.BAD_FRAME, 'A frame must be a JSON object with a "type".'),
        ("5", ErrorCode.BAD_FRAME, 'A frame must be a JSON object with a "type".'),
        ("{}", ErrorCode.BAD_FRAME, 'A frame must be a JSON object with a "type".'),
        (frame(content="hi"), ErrorCode.BAD_FRAME, 'A frame must be a JSON object with a "type".'),
        (frame(type=5), ErrorCode.BAD_FRAME, 'A frame must be a JSON object with a "type".'),
        (frame(type=None), ErrorCode.BAD_FRAME, 'A frame must be a JSON object with a "type".'),
        (frame(type="dance"), ErrorCode.BAD_FRAME, "Unknown frame type 'dance'."),
        (frame(type=""), ErrorCode.BAD_FRAME, "Unknown frame type ''."),
        (frame(type="x" * 100), ErrorCode.BAD_FRAME, f"Unknown frame type {'x' * 40!r}."),
        (
            frame(type="user_message"),
            ErrorCode.BAD_FRAME,
            'A user_message needs a "content" string.',
        ),
        *(
            (
                frame(type="user_message", content=content),
                ErrorCode.BAD_FRAME,
                'A user_message needs a "content" string.',
            )
            for content in (None, 5, ["hi"], {"text": "hi"})
        ),
        *(
            (
                frame(type="user_message", content=content),
                ErrorCode.BAD_FRAME,
                "The message is empty.",
            )
            for content in ("", " ", " \n\t\u3000 ")
        ),
        (
            frame(type="user_message", content="x" * 101),
            ErrorCode.TOO_LONG,
            "The message is too long (101 of 100 characters).",
        ),
        (  # the length is checked before the emptiness
            frame(type="user_message", content=" " * 150),
            ErrorCode.TOO_LONG,
            "The message is too long (150 of 100 characters).",
        ),
        *(
            (
                frame(type="user_message", content="hi", client_id=client_id),
                ErrorCode.BAD_FRAME,
                '"client_id" must be a string of 1 to 64 characters.',
            )
            for client_id in (5, "", "x" * 65, ["a"], True)
        ),
        # U+0000: PostgreSQL's text cannot hold it (a server error before; `make fuzz`).
        *(
            (frame(type="user_message", **fields), ErrorCode.BAD_FRAME, NUL_REFUSED)
            for fields in ({"content": "a\x00b"}, {"content": "ok", "client_id": "c\x00"})
        ),
        *(
            (frame(type="set_chunking", mode=mode), ErrorCode.BAD_FRAME, MODES_TEXT)
            for mode in ("word", "TOKEN", "", None, 1, ["token"])
        ),
        (frame(type="set_chunking"), ErrorCode.BAD_FRAME, MODES_TEXT),
    ],
)
def test_bad_frames_are_refused_with_a_code_and_a_readable_message(text, code, message):
    with pytest.raises(Refusal) as caught:
        parse_frame(text)
    error = caught.value
    assert isinstance(error.code, ErrorCode) and error.code is code
    assert error.message == str(error) == message


def test_a_frame_larger_than_the_limit_is_too_long_before_it_is_parsed():
    limit = max_frame_chars()
    padded = frame(type="ping").ljust(limit)  # JSON allows trailing whitespace
    assert parse_frame(padded) == Ping()
    for text in (padded + " ", "x" * (limit + 1)):
        with pytest.raises(Refusal) as caught:
            parse_frame(text)
        assert caught.value.code is ErrorCode.TOO_LONG
        assert caught.value.message == "The frame is too large."


@pytest.mark.parametrize("limit", [1, 100, 8000])
def test_max_frame_chars_follows_the_message_limit(settings, limit):
    settings.CHAT_MAX_MESSAGE_CHARS = limit
    assert max_frame_chars() == limit * 2 + 1024
    # A message at the limit fits in a frame even when every character is escaped.
    text = frame(type="user_message", content='"' * limit, client_id="c" * 64)
    assert len(text) <= max_frame_chars()
    assert parse_frame(text) == UserMessage('"' * limit, "c" * 64)


@pytest.mark.parametrize("mode", MODES)
def test_parse_chunk_mode_accepts_every_mode(mode):
    assert parse_chunk_mode(mode) == mode


@pytest.mark.parametrize("value", ["word", "Token", " token", "", None, 0, ["line"]])
def test_parse_chunk_mode_refuses_anything_else(value):
    with pytest.raises(Refusal) as caught:
        parse_chunk_mode(value)
    assert caught.value.code is ErrorCode.BAD_FRAME
    assert caught.value.message == MODES_TEXT


def test_error_frame_shape():
    assert error_frame(ErrorCode.BUSY, "Wait.") == {
        "type": "error",
        "code": ErrorCode.BUSY,
        "message": "Wait.",
    }
    with_extra = error_frame(ErrorCode.MODEL_ERROR, "Failed.", message_id="m-1")
    assert with_extra == {
        "type": "error",
        "code": "model_error",
        "message": "Failed.",
        "message_id": "m-1",
    }
    # The code goes over the socket as its plain string value.
    assert json.loads(json.dumps(with_extra))["code"] == "model_error"


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"type": "ping", "n": 1e999999}',
        '{"type": "ping", "n": -1e999999}',
        '{"type": "ping", "n": ' + "9" * 5000 + "}",
        '{"type": "user_message", "content": NaN}',
        '{"type": "ping", "n": Infinity}',
    ],
)
def test_pathological_json_is_a_bad_frame(raw, settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 10**6  # past the size check: the parser decides
    with pytest.raises(Refusal) as refused:
        parse_frame(raw)
    assert refused.value.code == ErrorCode.BAD_FRAME
