"""What crosses the channel layer, and the error codes: one home for each.

Group names, one typed constructor per event, and `request_stop()`. An answer
(generation.py) publishes `chat.*` events to its conversation's group and serves
`gen.*` requests on the conversation's control group; subscribers (consumers.py,
staff_consumers.py) read the first and send the second. The error codes are the
ones `error` frames, JSON errors and failed answers carry; static/chat/chat.js
mirrors the list (REJECTED_CODES and its messages).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:  # this module stays importable without Django
    from channels.layers import BaseChannelLayer


class ErrorCode(StrEnum):
    # A frame or request the server refuses (nothing is saved).
    BAD_FRAME = "bad_frame"
    TOO_LONG = "too_long"
    BUSY = "busy"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    NOT_FOUND = "not_found"
    READ_ONLY = "read_only"
    UNAVAILABLE = "unavailable"
    SERVER_ERROR = "server_error"
    # An answer that ended in error (also stored on Message.error_code).
    MODEL_ERROR = "model_error"
    MODEL_UNAVAILABLE = "model_unavailable"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    # The JSON API.
    NOT_AUTHENTICATED = "not_authenticated"
    BAD_REQUEST = "bad_request"
    INVALID = "invalid"
    NOT_ALLOWED = "not_allowed"


# The HTTP status of each refusal, for the JSON and streaming APIs (the rest: 400).
HTTP_STATUS = {
    ErrorCode.TOO_LONG: 413,
    ErrorCode.BUSY: 409,
    ErrorCode.NOT_ALLOWED: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.READ_ONLY: 403,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.SERVER_ERROR: 500,
}


def http_status(code: ErrorCode) -> int:
    return HTTP_STATUS.get(code, 400)


INTERRUPTED_ERROR = "The answer was interrupted because the server stopped."


def conversation_group(conversation_id: Any) -> str:
    """Every subscriber of a conversation: its tabs and staff tails."""
    return f"conv.{conversation_id}"


def user_group(user_id: Any) -> str:
    """Every chat socket of one user, in every process (`user.check` goes there)."""
    return f"user.{user_id}"


def control_group(conversation_id: Any) -> str:
    """The conversation's running answer, in whichever process it runs."""
    return f"conv.{conversation_id}.ctl"


# --- chat.*: from an answer (or a consumer) to subscribers ------------------------


class ChatMessage(TypedDict):
    type: Literal["chat.message"]
    frame: dict[str, Any]


class ChatStart(TypedDict):
    type: Literal["chat.start"]
    message_id: str
    model: str
    parent_id: str | None  # the question it answers (chat/tree.py)
    siblings: list[str]  # the answers to that question, itself included, oldest first
    offset: int  # characters it starts with (a continuation's text), sent by sync


class ChatDelta(TypedDict):
    type: Literal["chat.delta"]
    message_id: str
    offset: int  # where the first delta starts in the answer's text
    deltas: list[str]


class ChatSync(TypedDict):
    type: Literal["chat.sync"]
    message_id: str
    offset: int
    text: str  # the answer's text from `offset` on


class ChatEnd(TypedDict):
    type: Literal["chat.end"]
    message_id: str
    status: str
    length: int  # characters of the saved text
    usage: dict[str, int] | None
    ttft_ms: int | None
    duration_ms: int | None
    error_code: str
    error: str
    finish_reason: str  # why the model stopped ("length": cut off by the token limit)


def chat_message(frame: dict[str, Any]) -> ChatMessage:
    return {"type": "chat.message", "frame": frame}


def chat_start(
    message_id: str,
    model: str,
    *,
    parent_id: str | None = None,
    siblings: list[str] | None = None,
    offset: int = 0,
) -> ChatStart:
    return {
        "type": "chat.start",
        "message_id": message_id,
        "model": model,
        "parent_id": parent_id,
        "siblings": siblings or [message_id],
        "offset": offset,
    }


class ChatConversation(TypedDict):
    type: Literal["chat.conversation"]


def chat_conversation() -> ChatConversation:
    """The conversation's title, model or instructions changed: tabs read them again."""
    return {"type": "chat.conversation"}


class ChatPath(TypedDict):
    type: Literal["chat.path"]
    leaf: str


def chat_path(leaf: str) -> ChatPath:
    """The conversation shows another branch now: its subscribers read it again."""
    return {"type": "chat.path", "leaf": leaf}


def chat_delta(message_id: str, offset: int, deltas: list[str]) -> ChatDelta:
    return {"type": "chat.delta", "message_id": message_id, "offset": offset, "deltas": deltas}


def chat_sync(message_id: str, offset: int, text: str) -> ChatSync:
    return {"type": "chat.sync", "message_id": message_id, "offset": offset, "text": text}


def chat_end(
    message_id: str,
    *,
    status: str,
    length: int,
    usage: dict[str, int] | None,
    ttft_ms: int | None,
    duration_ms: int | None,
    error_code: str,
    error: str,
    finish_reason: str = "",
) -> ChatEnd:
    return {
        "type": "chat.end",
        "message_id": message_id,
        "status": status,
        "length": length,
        "usage": usage,
        "ttft_ms": ttft_ms,
        "duration_ms": duration_ms,
        "error_code": error_code,
        "error": error,
        "finish_reason": finish_reason,
    }


class UserCheck(TypedDict):
    type: Literal["user.check"]


def user_check() -> UserCheck:
    """The user's account changed (logout, password, deactivation): check the session."""
    return {"type": "user.check"}


# --- gen.*: from subscribers to the running answer (control group) ----------------


class GenStop(TypedDict):
    type: Literal["gen.stop"]


class GenSync(TypedDict):
    type: Literal["gen.sync"]
    reply_to: str  # the channel that gets the `chat.sync` reply
    offset: int


def gen_stop() -> GenStop:
    return {"type": "gen.stop"}


def gen_sync(reply_to: str, offset: int) -> GenSync:
    return {"type": "gen.sync", "reply_to": reply_to, "offset": offset}


async def request_stop(layer: BaseChannelLayer, conversation_id: Any) -> None:
    """Stop the conversation's running answer, in whichever process it runs."""
    await layer.group_send(control_group(conversation_id), gen_stop())


async def request_sync(
    layer: BaseChannelLayer, conversation_id: Any, reply_to: str, offset: int
) -> None:
    """Ask the running answer for its text from `offset`; it replies `chat.sync`."""
    await layer.group_send(control_group(conversation_id), gen_sync(reply_to, offset))
