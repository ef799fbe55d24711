"""Client frames: parsing and validation, and the error frames sent back.

Every frame is checked here before the consumer acts on it, so a bad frame costs
the client an `error` frame and never a stack trace or a closed socket.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import ErrorCode, Refusal
from chat.streaming.delivery.chunking import MODES


@dataclass(frozen=True)
class UserMessage:
    content: str
    client_id: str | None
    attachments: tuple[str, ...] = ()  # ids of the user's uploaded files it carries


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class SetChunking:
    mode: str


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class LoadOlder:
    before: str  # the id of the oldest message the client has


@dataclass(frozen=True)
class Edit:
    """A new version of the user's message `message_id`: a branch from its parent."""

    message_id: str
    content: str
    client_id: str | None


@dataclass(frozen=True)
class Regenerate:
    message_id: str  # the answer to answer again (kept as a sibling)


@dataclass(frozen=True)
class Continue:
    message_id: str  # the stopped or cut-off answer to go on from


@dataclass(frozen=True)
class Switch:
    message_id: str  # show the branch through this message


@dataclass(frozen=True)
class SetVoice:
    """Voice mode on or off for this socket: its answers spoken by the server's engine,
    one `mode` piece (clause or sentence) at a time, in `voice` (None: the engine's)."""

    on: bool
    mode: str
    voice: str | None


@dataclass(frozen=True)
class Hush:
    """Barge-in: nothing more of the answers so far is spoken (the user typed)."""


Frame = (
    UserMessage
    | Stop
    | SetChunking
    | Ping
    | LoadOlder
    | Edit
    | Regenerate
    | Continue
    | Switch
    | SetVoice
    | Hush
)
VOICE_MODES = ("clause", "sentence")
VOICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+.\-]{0,39}")  # espeak-ng's, a speaker id


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999999
        raise ValueError("number out of range")
    return value


def loads(text: str | bytes) -> object:
    """JSON as the standard defines it, refused (ValueError) when pathological: nesting
    deeper than the parser's recursion limit, NaN and Infinity, numbers out of range
    (Python already refuses integers of over 4,300 digits)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def max_frame_chars() -> int:
    return settings.CHAT_MAX_MESSAGE_CHARS * 2 + 1024


def parse_chunk_mode(value: object) -> str:
    if not isinstance(value, str) or value not in MODES:
        raise Refusal(
            ErrorCode.BAD_FRAME,
            format_lazy(_("Chunking mode must be one of: {modes}."), modes=", ".join(MODES)),
        )
    return value


def parse_frame(text: str | None) -> Frame:
    """Turn a WebSocket text frame into a typed frame, or raise Refusal."""
    if text is None:
        raise Refusal(ErrorCode.BAD_FRAME, _("Only JSON text frames are accepted."))
    if len(text) > max_frame_chars():
        raise Refusal(ErrorCode.TOO_LONG, _("The frame is too large."))
    try:
        data = loads(text)
    except ValueError:
        raise Refusal(ErrorCode.BAD_FRAME, _("The frame is not valid JSON.")) from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise Refusal(ErrorCode.BAD_FRAME, _('A frame must be a JSON object with a "type".'))
    kind = data["type"]
    if kind == "user_message":
        return parse_user_message(data)
    if kind == "stop":
        return Stop()
    if kind == "set_chunking":
        return SetChunking(parse_chunk_mode(data.get("mode")))
    if kind == "ping":
        return Ping()
    if kind == "load_older":
        return LoadOlder(_message_id(data, "before"))
    if kind == "edit":
        message = parse_user_message(data)
        return Edit(_message_id(data, "message_id"), message.content, message.client_id)
    if kind == "regenerate":
        return Regenerate(_message_id(data, "message_id"))
    if kind == "continue":
        return Continue(_message_id(data, "message_id"))
    if kind == "switch":
        return Switch(_message_id(data, "message_id"))
    if kind == "set_voice":
        return parse_set_voice(data)
    if kind == "hush":
        return Hush()
    raise Refusal(
        ErrorCode.BAD_FRAME, format_lazy(_("Unknown frame type {kind}."), kind=repr(kind[:40]))
    )


def parse_set_voice(data: Mapping[str, object]) -> SetVoice:
    on, mode, voice = data.get("on"), data.get("mode", "clause"), data.get("voice")
    if not isinstance(on, bool):
        raise Refusal(ErrorCode.BAD_FRAME, _('"on" must be true or false.'))
    if not isinstance(mode, str) or mode not in VOICE_MODES:
        raise Refusal(
            ErrorCode.BAD_FRAME,
            format_lazy(_("Voice mode must be one of: {modes}."), modes=", ".join(VOICE_MODES)),
        )
    if voice in (None, ""):
        return SetVoice(on, mode, None)
    if not isinstance(voice, str) or not VOICE_NAME.fullmatch(voice):
        raise Refusal(
            ErrorCode.BAD_FRAME,
            _('"voice" must be a voice name or speaker id (up to 40 characters).'),
        )
    return SetVoice(on, mode, voice)


def _message_id(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise Refusal(ErrorCode.BAD_FRAME, format_lazy(_('"{key}" must be a message id.'), key=key))
    return value


def parse_user_message(data: Mapping[str, object]) -> UserMessage:
    """`content`, `client_id` and `attachments` (a list of uploaded files' ids) of a
    `user_message` frame (or an API request's body)."""
    content = data.get("content")
    if not isinstance(content, str):
        raise Refusal(ErrorCode.BAD_FRAME, _('A user_message needs a "content" string.'))
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(content) > limit:
        raise Refusal(
            ErrorCode.TOO_LONG,
            format_lazy(
                _("The message is too long ({length} of {limit} characters)."),
                length=len(content),
                limit=limit,
            ),
        )
    if not content.strip():
        raise Refusal(ErrorCode.BAD_FRAME, _("The message is empty."))
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= 64):
        raise Refusal(ErrorCode.BAD_FRAME, _('"client_id" must be a string of 1 to 64 characters.'))
    # PostgreSQL's text cannot hold U+0000: refused here, not a database error later
    # (found by `make fuzz`, 10,000 frames).
    if "\x00" in content or (client_id is not None and "\x00" in client_id):
        raise Refusal(ErrorCode.BAD_FRAME, NUL_REFUSED)
    files = data.get("attachments", [])
    if not isinstance(files, list) or not all(
        isinstance(f, str) and 0 < len(f) <= 64 for f in files
    ):
        raise Refusal(ErrorCode.BAD_FRAME, _('"attachments" must be a list of file ids.'))
    if len(files) > settings.ATTACHMENT_MAX_PER_MESSAGE:
        raise Refusal(
            ErrorCode.INVALID,
            format_lazy(
                _("A message may carry at most {count} files."),
                count=settings.ATTACHMENT_MAX_PER_MESSAGE,
            ),
        )
    return UserMessage(content=content, client_id=client_id, attachments=tuple(files))


NUL_REFUSED = _("Text may not contain the NUL character (U+0000).")
