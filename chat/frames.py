"""The frames the server sends to a subscriber: one constructor for each.

Pure (no Django): the WebSocket consumers send them as JSON text frames, and any
later transport (server-sent events) sends the same objects. The frames a client
sends are parsed in protocol.py. docs/DESIGN.md documents both.
"""

from __future__ import annotations

from typing import Any

from .contract import ErrorCode


def history_frame(
    *, conversation: dict[str, Any], messages: list[dict[str, Any]], chunking: str, model: str
) -> dict[str, Any]:
    return {
        "type": "history",
        "conversation": conversation,
        "messages": messages,
        "chunking": chunking,
        "model": model,
    }


def start_frame(message_id: str, model: str) -> dict[str, Any]:
    return {"type": "start", "message_id": message_id, "model": model}


def chunk_frame(message_id: str, seq: int, text: str) -> dict[str, Any]:
    return {"type": "chunk", "message_id": message_id, "seq": seq, "text": text}


def end_frame(
    message_id: str,
    *,
    status: str,
    usage: dict[str, int] | None,
    ttft_ms: int | None,
    duration_ms: int | None,
    error: str,
) -> dict[str, Any]:
    return {
        "type": "end",
        "message_id": message_id,
        "status": status,
        "usage": usage,
        "ttft_ms": ttft_ms,
        "duration_ms": duration_ms,
        "error": error,
    }


def error_frame(code: ErrorCode, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


PONG = {"type": "pong"}
