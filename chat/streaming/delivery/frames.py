"""The frames the server sends to a subscriber: one constructor for each.

Pure (no Django): the WebSocket consumers send them as JSON text frames, and any
later transport (server-sent events) sends the same objects. The frames a client
sends are parsed in protocol.py. docs/DESIGN.md documents both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chat.errors import ErrorCode


def history_frame(
    *,
    conversation: dict[str, Any],
    messages: list[dict[str, Any]],
    has_more: bool,
    chunking: str,
    model: str,
) -> dict[str, Any]:
    return {
        "type": "history",
        "conversation": conversation,
        "messages": messages,
        "has_more": has_more,  # older messages exist: ask with `load_older`
        "chunking": chunking,
        "model": model,
    }


def conversation_frame(conversation: Any) -> dict[str, Any]:
    """The conversation's settings changed: `conversation` as in `history`."""
    from chat.conversations.serializers import (
        conversation_settings,  # frames.py stays importable without Django
    )

    return {"type": "conversation", "conversation": conversation_settings(conversation)}


def older_frame(messages: list[dict[str, Any]], *, has_more: bool) -> dict[str, Any]:
    return {"type": "older", "messages": messages, "has_more": has_more}


def start_frame(
    message_id: str,
    model: str,
    *,
    parent_id: str | None = None,
    siblings: list[str] | None = None,
) -> dict[str, Any]:
    """`parent_id` None: the answer follows the last message shown (a start the
    subscriber did not see); else the client shows it after that message, in place
    of what followed it (another branch), with `siblings` for its "< 2/3 >"."""
    return {
        "type": "start",
        "message_id": message_id,
        "model": model,
        "parent_id": parent_id,
        "siblings": siblings or [message_id],
    }


def chunk_frame(message_id: str, seq: int, text: str) -> dict[str, Any]:
    return {"type": "chunk", "message_id": message_id, "seq": seq, "text": text}


# What an `end` frame tells of the answer, from a `chat.end` event or a saved message.
END_FIELDS = ("status", "usage", "ttft_ms", "duration_ms", "error")


def end_frame(message_id: str, ending: Mapping[str, Any]) -> dict[str, Any]:
    frame = {"type": "end", "message_id": message_id, **{key: ending[key] for key in END_FIELDS}}
    if ending.get("finish_reason"):  # "length": the answer was cut off (it can be continued)
        frame["finish_reason"] = ending["finish_reason"]
    return frame


def error_frame(code: ErrorCode, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


PONG = {"type": "pong"}
