"""The one JSON shape of a conversation, a message and its feedback, and of the day's
token usage.

Used by the WebSocket (history and `message` frames), the JSON API and the staff
exports, so a message looks the same everywhere. Pure: no queries beyond the
relations the caller selected (a message's `feedback`).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from django.urls import reverse

from chat.conversations.quotas import Usage, iso_utc
from chat.models import Attachment, Conversation, Feedback, Message, Preset, ShareLink


class AttachmentDict(TypedDict):
    """A file attached to a message: what it is, and where its owner fetches it."""

    id: str
    name: str
    size: int
    kind: str
    mime: str
    url: str


def attachment_to_dict(attachment: Attachment) -> AttachmentDict:
    return {
        "id": str(attachment.pk),
        "name": attachment.name,
        "size": attachment.size,
        "kind": attachment.kind,
        "mime": attachment.mime,
        "url": reverse("chat:api-attachment", args=[attachment.pk]),
    }


class MessageDict(TypedDict):
    """A message as `message_to_dict` shows it."""

    id: str
    parent_id: str | None
    siblings: list[str]
    role: str
    content: str
    status: str
    created: str
    model: str
    ttft_ms: int | None
    duration_ms: int | None
    usage: dict[str, int | None] | None
    error: str
    error_code: str
    finish_reason: str
    feedback: dict[str, str] | None
    client_id: str | None
    # The files the question carries, when it carries any (read by the selectors into
    # the message's `files`).
    attachments: NotRequired[list[AttachmentDict]]


def conversation_to_dict(conversation: Conversation) -> dict[str, str | bool | None]:
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "created": conversation.created.isoformat(),
        "updated": conversation.updated.isoformat(),
        "source": conversation.source,  # web, api or openai (/v1)
        **conversation_marks(conversation),
    }


def conversation_marks(conversation: Conversation) -> dict[str, bool | str | None]:
    """Whether its owner pinned it (listed first) or archived it (listed apart), and for
    a temporary chat when it is deleted (`expires`, ISO 8601; null: kept)."""
    expires = conversation.expires
    return {
        "pinned": conversation.pinned is not None,
        "archived": conversation.archived is not None,
        "temporary": expires is not None,
        "expires": expires.isoformat() if expires is not None else None,
    }


def conversation_settings(conversation: Conversation) -> dict[str, str | float | None]:
    """What a tab shows of its conversation: its title, how it is answered (the model's
    key, blank for the default; instructions, blank for the operator's), and whether it
    is pinned or archived (the sidebar follows a change made in another tab)."""
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "model": conversation.model,
        "instructions": conversation.instructions,
        "temperature": conversation.temperature,
        **conversation_marks(conversation),
    }


def preset_to_dict(preset: Preset) -> dict[str, str | float | None]:
    return {
        "id": preset.pk,
        "name": preset.name,
        "instructions": preset.instructions,
        "model": preset.model,
        "temperature": preset.temperature,
    }


def feedback_to_dict(message: Message) -> dict[str, str] | None:
    try:
        feedback = message.feedback
    except Feedback.DoesNotExist:
        return None
    return {"rating": "up" if feedback.rating > 0 else "down", "comment": feedback.comment}


def message_to_dict(message: Message) -> MessageDict:
    """`siblings`: see `selectors.messages_on_path`. `feedback` only on assistant
    answers; `client_id` (the browser's id for a user message, which lets it recognise
    its own message after a reconnect) only on user messages that were sent with one:
    null otherwise."""
    is_answer = message.role == Message.Role.ASSISTANT
    shown: MessageDict = {
        "id": str(message.id),
        "parent_id": str(message.parent_id) if message.parent_id else None,
        # The message and its alternatives (regenerations, edits), oldest first, when
        # the caller read them (selectors.messages_on_path); else the message alone.
        "siblings": getattr(message, "siblings", None) or [str(message.id)],
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "created": message.created.isoformat(),
        "model": message.model_name,
        "ttft_ms": message.ttft_ms,
        "duration_ms": message.duration_ms,
        "usage": message.usage,
        "error": message.error,
        "error_code": message.error_code,
        "finish_reason": message.finish_reason,
        "feedback": feedback_to_dict(message) if is_answer else None,
        "client_id": None if is_answer else (message.client_id or None),
    }
    if files := getattr(message, "files", None):
        shown["attachments"] = [attachment_to_dict(a) for a in files]
    return shown


def usage_to_dict(usage: Usage) -> dict[str, int | str | None]:
    """`tokens_today` (charged this UTC day), `tokens_held` (by answers streaming now),
    `budget` and `remaining` (null when there is no budget), `resets_at` (UTC)."""
    return {
        "tokens_today": usage.used,
        "tokens_held": usage.held,
        "budget": usage.budget,
        "remaining": usage.remaining,
        "resets_at": iso_utc(usage.resets_at),
    }


def share_to_dict(share: ShareLink, *, url: str) -> dict[str, object]:
    """A share link as its owner's API shows it: `url` (the page, `/s/<token>/`,
    absolute), what it holds (`scope`, `message_count`), and its life (`state`
    active, revoked or expired; `expires` null: never; `views`)."""
    return {
        "id": share.pk,
        "url": url,
        "conversation_id": str(share.conversation_id),
        "title": share.conversation.title,
        "scope": share.scope,
        "message_count": share.message_count,
        "created": iso_utc(share.created),
        "expires": iso_utc(share.expires) if share.expires else None,
        "revoked": iso_utc(share.revoked) if share.revoked else None,
        "state": share.state(),
        "views": share.views,
        "last_viewed": iso_utc(share.last_viewed) if share.last_viewed else None,
    }
