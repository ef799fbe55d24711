"""The body of each delivery in each format.

Ours (`json`): `{"message_id", "seq", "text"}` per chunk, then a final
`{"message_id", "seq", "status", "error_code"}` (status `complete`, `stopped` or
`failed`). Slack's incoming webhook takes `{"text": …}`, Discord's `{"content": …}`;
neither takes an empty message, so blank chunks are not sent to them, and their final
word is sent only when the answer did not complete.
"""

from __future__ import annotations

from typing import Any

Body = dict[str, Any]

COMPLETE = "complete"
STOPPED = "stopped"
FAILED = "failed"
DISCORD_MAX_CHARS = 2000  # Discord refuses longer content; the rest is cut

# The saved status of an answer (Message.Status) to a final `status`.
FINAL_STATUS = {"complete": COMPLETE, "stopped": STOPPED, "error": FAILED}


def chunk_body(fmt: str, *, message_id: str, seq: int, text: str) -> Body | None:
    """One chunk of an answer; None when the format takes nothing for it."""
    if fmt == "json":
        return {"message_id": message_id, "seq": seq, "text": text}
    if not text.strip():
        return None
    return _chat_tool(fmt, text)


def final_body(
    fmt: str, *, message_id: str, seq: int, status: str, error_code: str = ""
) -> Body | None:
    """The answer's last word: how it ended. `status` is the saved one."""
    final = FINAL_STATUS.get(status, FAILED)
    if fmt == "json":
        code = error_code or None if final == FAILED else None
        return {"message_id": message_id, "seq": seq, "status": final, "error_code": code}
    if final == COMPLETE:
        return None
    note = "(answer stopped)" if final == STOPPED else f"(answer failed: {error_code or 'error'})"
    return _chat_tool(fmt, note)


def _chat_tool(fmt: str, text: str) -> Body:
    if fmt == "slack":
        return {"text": text}
    if fmt == "discord":
        return {"content": text[:DISCORD_MAX_CHARS]}
    raise ValueError(f"unknown webhook format {fmt!r}")
