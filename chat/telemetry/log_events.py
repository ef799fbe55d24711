"""Structured events: one JSON line per socket opened or closed and per finished answer.

The logger `chat.events` is for machines (dashboards, audits of who used what): its
message is the event as a JSON object, and with LOG_FORMAT=json the same fields are
the line's top-level fields. No message text is logged unless LOG_MESSAGE_CONTENT=1,
which adds the answer's text to `answer_finished`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from django.conf import settings

from chat.telemetry.logs import EVENT_FIELDS, process_name, timestamp

if TYPE_CHECKING:
    from uuid import UUID

logger = logging.getLogger("chat.events")


def emit(event: str, **fields: object) -> None:
    """Log one event; `event`, `process` and `ts` are added to its fields."""
    if not logger.isEnabledFor(logging.INFO):
        return
    entry = {"event": event, **fields, "process": process_name(), "ts": timestamp()}
    logger.info(json.dumps(entry, ensure_ascii=False, default=str), extra={EVENT_FIELDS: entry})


def socket_opened(*, user_id: int | None, conversation: UUID | str | None, path: str) -> None:
    emit("socket_opened", user_id=user_id, conversation=_text(conversation), path=path)


def socket_closed(
    *, user_id: int | None, conversation: UUID | str | None, code: int | None
) -> None:
    """`code` is the WebSocket close code; None when the consumer ended without one."""
    emit("socket_closed", user_id=user_id, conversation=_text(conversation), code=code)


def answer_finished(
    *,
    user_id: int | None,
    conversation: UUID | str,
    message_id: UUID | str,
    model: str,
    status: str,
    error_code: str,
    ttft_ms: int | None,
    duration_ms: int,
    usage: dict[str, int] | None,
    text: str,
) -> None:
    fields: dict[str, object] = {
        "user_id": user_id,
        "conversation": _text(conversation),
        "message_id": _text(message_id),
        "model": model,
        "status": status,
        "error_code": error_code,
        "ttft_ms": ttft_ms,
        "duration_ms": duration_ms,
        "tokens": _tokens(usage),
        "chars": len(text),
    }
    if settings.LOG_MESSAGE_CONTENT:
        fields["content"] = text
    emit("answer_finished", **fields)


def _tokens(usage: dict[str, int] | None) -> dict[str, int | None] | None:
    """The provider's token counts, when it reported them."""
    if not usage:
        return None
    return {
        "input": usage.get("input_tokens"),
        "output": usage.get("output_tokens"),
        "total": usage.get("total_tokens"),
    }


def _text(value: object) -> str | None:
    return None if value is None else str(value)
