"""What crosses the channel layer: one home for each event.

Group names, one typed constructor per event, `group_send()` and `request_stop()`. An answer
(generation.py) publishes `chat.*` events to its conversation's group and serves
`gen.*` requests on the conversation's control group; subscribers (the tabs and
streams of streaming/stream/) read the first and send the second. Error codes: errors.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict, Unpack, cast

if TYPE_CHECKING:  # this module stays importable without Django
    from uuid import UUID

    from channels.layers import BaseChannelLayer


def conversation_group(conversation_id: UUID | str) -> str:
    """Every subscriber of a conversation: its tabs and staff tails."""
    return f"conv.{conversation_id}"


def user_group(user_id: int) -> str:
    """Every chat socket of one user, in every process (`user.check` goes there)."""
    return f"user.{user_id}"


def control_group(conversation_id: UUID | str) -> str:
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


class EndFields(TypedDict):
    """How an answer ended, as `chat.end` tells it."""

    status: str
    length: int  # characters of the saved text
    usage: dict[str, int] | None
    ttft_ms: int | None
    duration_ms: int | None
    error_code: str
    error: str
    finish_reason: str  # why the model stopped ("length": cut off by the token limit)


class ChatEnd(EndFields):
    type: Literal["chat.end"]
    message_id: str


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


class ChatPath(TypedDict):
    type: Literal["chat.path"]
    leaf: str


def chat_conversation() -> ChatConversation:
    """The conversation's title, model or instructions changed: tabs read them again."""
    return {"type": "chat.conversation"}


def chat_path(leaf: str) -> ChatPath:
    """The conversation shows another branch now: its subscribers read it again."""
    return {"type": "chat.path", "leaf": leaf}


def chat_delta(message_id: str, offset: int, deltas: list[str]) -> ChatDelta:
    return {"type": "chat.delta", "message_id": message_id, "offset": offset, "deltas": deltas}


def chat_sync(message_id: str, offset: int, text: str) -> ChatSync:
    return {"type": "chat.sync", "message_id": message_id, "offset": offset, "text": text}


def chat_end(message_id: str, **fields: Unpack[EndFields]) -> ChatEnd:
    return {"type": "chat.end", "message_id": message_id, **fields}


class UserCheck(TypedDict):
    """The user's account changed (logout, password, deactivation): check the session."""

    type: Literal["user.check"]


def user_check() -> UserCheck:
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


Event: TypeAlias = (
    ChatMessage
    | ChatStart
    | ChatDelta
    | ChatSync
    | ChatEnd
    | ChatConversation
    | ChatPath
    | UserCheck
    | GenStop
    | GenSync
)


def layer_message(event: Event) -> dict[str, Any]:
    """`event` as Channels' stubs type a message: dict[str, Any], which a TypedDict is
    not to mypy; at run time an event is that very dict."""
    return cast("dict[str, Any]", event)


async def group_send(layer: BaseChannelLayer, group: str, event: Event) -> None:
    """`layer.group_send` of one of these events."""
    await layer.group_send(group, layer_message(event))


async def request_stop(layer: BaseChannelLayer, conversation_id: UUID | str) -> None:
    """Stop the conversation's running answer, in whichever process it runs."""
    await group_send(layer, control_group(conversation_id), gen_stop())
