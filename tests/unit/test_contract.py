"""The channel-layer contract: group names, event shapes, and the error codes that
the front end's protocol client (static/chat/protocol.js) mirrors."""

import re
from pathlib import Path

import msgpack

from chat import contract
from chat.errors import ErrorCode

PROTOCOL_JS = Path(__file__).resolve().parents[2] / "static" / "chat" / "protocol.js"


def test_protocol_js_mirrors_every_error_code():
    block = re.search(
        r"export const ERROR_CODES = Object\.freeze\(\{(.*?)\}\);", PROTOCOL_JS.read_text(), re.S
    )
    assert block, "protocol.js has no ERROR_CODES table"
    mirrored = dict(re.findall(r"(\w+): '(\w+)'", block.group(1)))
    assert mirrored == {code.name: code.value for code in ErrorCode}


def test_group_names_keep_subscribers_and_control_apart():
    assert contract.conversation_group("abc") == "conv.abc"
    assert contract.control_group("abc") == "conv.abc.ctl"
    assert contract.conversation_group("abc") != contract.control_group("abc")


def test_events_survive_the_layers_serialisation_as_plain_values():
    """channels_redis packs events with msgpack: an ErrorCode must arrive as its text."""
    event = contract.chat_end(
        "m1",
        status="error",
        length=3,
        usage=None,
        ttft_ms=5,
        duration_ms=9,
        error_code=ErrorCode.TIMEOUT,
        error="slow",
        finish_reason="",
    )
    unpacked = msgpack.unpackb(msgpack.packb(event))
    assert unpacked == {**event, "error_code": "timeout"}
    assert unpacked["type"] == "chat.end"


def test_constructors_build_the_documented_shapes():
    assert contract.chat_delta("m", 4, ["a", "b"]) == {
        "type": "chat.delta",
        "message_id": "m",
        "offset": 4,
        "deltas": ["a", "b"],
    }
    assert contract.gen_sync("reply.1", 7) == {
        "type": "gen.sync",
        "reply_to": "reply.1",
        "offset": 7,
    }
    assert contract.gen_stop() == {"type": "gen.stop"}
