"""An answer's Markdown as Slack's mrkdwn, chunk by chunk (each chunk on its own)."""

from __future__ import annotations

import re

BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
STRIKE = re.compile(r"~~(.+?)~~")


def escape(text: str) -> str:
    """The three characters Slack asks to escape in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(text: str) -> str:
    """Markdown's bold, links, headings and strike-through in mrkdwn; the rest escaped
    and kept (code spans and blocks are written the same in both)."""
    text = escape(text)
    text = LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    text = BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)
    text = HEADING.sub(lambda m: f"*{m.group(1)}*", text)
    return STRIKE.sub(r"~\1~", text)
