"""Which Slack events start an answer, the thread each belongs to, and its question."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
SPACES = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True)
class Ask:
    """A question asked of the bot in Slack."""

    event_id: str
    slack_user: str
    channel: str
    ts: str  # the asking message
    thread_ts: str  # the thread the answer goes to (the message itself outside a thread)
    text: str

    @property
    def message_key(self) -> str:
        return f"{self.channel}:{self.ts}"


def ask_of(envelope: dict[str, Any]) -> Ask | None:
    """The question in an `event_callback`, or None when the event asks nothing: not
    a mention or a direct message, a bot's message, an edit or other subtype, blank."""
    event = envelope.get("event")
    if not isinstance(event, dict) or not wanted(event):
        return None
    text = question(str(event.get("text", "")))
    if not text:
        return None
    channel, ts = str(event["channel"]), str(event["ts"])
    return Ask(
        event_id=str(envelope.get("event_id") or f"{channel}:{ts}"),
        slack_user=str(event["user"]),
        channel=channel,
        ts=ts,
        thread_ts=thread_of(event),
        text=text,
    )


def wanted(event: dict[str, Any]) -> bool:
    """A mention of the bot, or a message in a direct message with it, from a person."""
    if event.get("bot_id") or event.get("subtype") or not event.get("user"):
        return False
    if not event.get("channel") or not event.get("ts"):
        return False
    kind = event.get("type")
    return kind == "app_mention" or (kind == "message" and event.get("channel_type") == "im")


def thread_of(event: dict[str, Any]) -> str:
    """The thread's ts: the thread the message is in, or the message itself (a
    message outside a thread starts one)."""
    return str(event.get("thread_ts") or event["ts"])


def question(text: str) -> str:
    """The text asked: mentions taken out, Slack's escapes undone, trimmed."""
    text = MENTION.sub(" ", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return SPACES.sub(" ", text).strip()
