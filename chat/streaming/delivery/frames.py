"""The frames the server sends to a subscriber: one constructor for each.

Pure (no Django): the WebSocket consumers send them as JSON text frames, and any
later transport (server-sent events) sends the same objects. The frames a client
sends are parsed in protocol.py. docs/DESIGN.md documents both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict

from chat.contract import chat_start
from chat.errors import ErrorCode

if TYPE_CHECKING:  # frames.py stays importable without Django
    from typing_extensions import ReadOnly

    from chat.conversations.serializers import MessageDict
    from chat.errors import Sentence
    from chat.models import Conversation

# A frame as it goes out: a JSON object.
Frame: TypeAlias = dict[str, Any]


def history_frame(
    *,
    conversation: Mapping[str, str | float | None],
    messages: list[MessageDict],
    has_more: bool,
    chunking: str,
    model: str,
) -> Frame:
    return {
        "type": "history",
        "conversation": conversation,
        "messages": messages,
        "has_more": has_more,  # older messages exist: ask with `load_older`
        "chunking": chunking,
        "model": model,
    }


def conversation_frame(conversation: Conversation) -> Frame:
    """The conversation's settings changed: `conversation` as in `history`."""
    from chat.conversations.serializers import (
        conversation_settings,  # frames.py stays importable without Django
    )

    return {"type": "conversation", "conversation": conversation_settings(conversation)}


def older_frame(messages: list[MessageDict], *, has_more: bool) -> Frame:
    return {"type": "older", "messages": messages, "has_more": has_more}


def start_frame(
    message_id: str,
    model: str,
    *,
    parent_id: str | None = None,
    siblings: list[str] | None = None,
) -> Frame:
    """`parent_id` None: the answer follows the last message shown (a start the
    subscriber did not see); else the client shows it after that message, in place
    of what followed it (another branch), with `siblings` for its "< 2/3 >". The
    fields are the `chat.start` event's, but for its offset (contract.py)."""
    frame: Frame = {**chat_start(message_id, model, parent_id=parent_id, siblings=siblings)}
    del frame["offset"]
    frame["type"] = "start"  # in first place, where the event has its own
    return frame


def chunk_frame(message_id: str, seq: int, text: str) -> Frame:
    return {"type": "chunk", "message_id": message_id, "seq": seq, "text": text}


class Ending(TypedDict):
    """What an `end` frame tells of the answer, from a `chat.end` event or a saved
    message (read-only: a `contract.ChatEnd` is one)."""

    status: ReadOnly[str]
    usage: ReadOnly[Mapping[str, int | None] | None]
    ttft_ms: ReadOnly[int | None]
    duration_ms: ReadOnly[int | None]
    error: ReadOnly[str]
    error_code: ReadOnly[str]
    finish_reason: ReadOnly[str]


EndField: TypeAlias = Literal["status", "usage", "ttft_ms", "duration_ms", "error"]
# What an `end` frame tells of the answer (and `finish_reason` when there is one).
END_FIELDS: tuple[EndField, ...] = ("status", "usage", "ttft_ms", "duration_ms", "error")


def end_frame(message_id: str, ending: Ending) -> Frame:
    frame: Frame = {
        "type": "end",
        "message_id": message_id,
        **{key: ending[key] for key in END_FIELDS},
    }
    if ending.get("finish_reason"):  # "length": the answer was cut off (it can be continued)
        frame["finish_reason"] = ending["finish_reason"]
    return frame


def error_frame(code: ErrorCode | str, message: Sentence, **extra: object) -> Frame:
    """`code`: an ErrorCode, or the code a failed answer was saved or announced with;
    `message` may be a lazy translation, which the door renders in its language."""
    return {"type": "error", "code": code, "message": message, **extra}


PONG: Frame = {"type": "pong"}


def audio_frame(message_id: str, seq: int, text: str, url: str) -> Frame:
    """A spoken chunk of an answer (voice mode): play `url` after the answer's `seq - 1`."""
    return {"type": "audio", "message_id": message_id, "seq": seq, "text": text, "url": url}


def voice_notice_frame(message_id: str, code: ErrorCode | str, message: str) -> Frame:
    """Voice mode could not speak (the rest of) an answer; its text still streams."""
    return {"type": "voice_notice", "message_id": message_id, "code": code, "message": message}
