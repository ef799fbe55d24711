"""Our own export format (`{"format": "chat-export", "version": 1, ...}`) read back
into drafts: pure. Strict: this server wrote it, so anything unexpected is refused.
Its summaries (issue #25) are checked and left behind (`check_summaries`)."""

from __future__ import annotations

from typing import Any

from chat.conversations.limits import MAX_INSTRUCTIONS_CHARS, MAX_TEMPERATURE
from chat.conversations.porting.drafts import (
    FORMAT,
    VERSION,
    Draft,
    DraftMessage,
    ImportInvalid,
    finish,
    parse_time,
)

ROLES = ("user", "assistant")
SUMMARY_STATUSES = ("ready", "failed", "cleared")
# A message exported while it was being written comes back stopped: nothing writes it.
STATUSES = {"complete": "complete", "stopped": "stopped", "error": "error", "streaming": "stopped"}
USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")


def is_ours(data: object) -> bool:
    return isinstance(data, dict) and data.get("format") == FORMAT


def read_ours(data: dict[str, Any]) -> list[Draft]:
    if data.get("version") != VERSION:
        raise ImportInvalid(f"This server reads version {VERSION} of its export format only.")
    conversations = data.get("conversations")
    if not isinstance(conversations, list):
        raise ImportInvalid('"conversations" must be a list.')
    seen: set[str] = set()
    drafts = []
    for index, item in enumerate(conversations):
        draft = read_conversation(item, f"conversation {index + 1}")
        if draft.source_id in seen:
            raise ImportInvalid(f"The conversation {draft.source_id} appears twice.")
        seen.add(draft.source_id)
        drafts.append(draft)
    return drafts


def text(item: dict[str, Any], key: str, where: str, *, default: str = "") -> str:
    value = item.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ImportInvalid(f'{where}: "{key}" must be a string.')
    return value


def read_conversation(item: object, where: str) -> Draft:
    if not isinstance(item, dict):
        raise ImportInvalid(f"{where} is not an object.")
    source_id = text(item, "id", where)
    if not source_id:
        raise ImportInvalid(f'{where} has no "id".')
    instructions = text(item, "instructions", where)
    if len(instructions) > MAX_INSTRUCTIONS_CHARS:
        raise ImportInvalid(
            f"{where}: instructions longer than {MAX_INSTRUCTIONS_CHARS} characters."
        )
    temperature = item.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= MAX_TEMPERATURE
    ):
        raise ImportInvalid(f"{where}: temperature must be between 0 and {MAX_TEMPERATURE}.")
    messages = item.get("messages")
    if not isinstance(messages, list):
        raise ImportInvalid(f'{where}: "messages" must be a list.')
    read = [read_message(m, f"{where}, message {n + 1}") for n, m in enumerate(messages)]
    parents: dict[str, str | None] = {}
    for message in read:
        if message.key in parents:
            raise ImportInvalid(f"{where}: the message id {message.key} appears twice.")
        parents[message.key] = message.parent
    check_summaries(item.get("summaries"), parents, where)
    leaf = item.get("current_leaf")
    if leaf is not None and (not isinstance(leaf, str) or leaf not in parents):
        raise ImportInvalid(f"{where}: current_leaf {str(leaf)[:60]} is not one of its messages.")
    draft = Draft(
        source=FORMAT,
        source_id=source_id,
        title=text(item, "title", where),
        messages=read,
        leaf=leaf,
        created=parse_time(item.get("created"), where),
        model=text(item, "model", where),
        instructions=instructions,
        temperature=None if temperature is None else float(temperature),
    )
    return finish(draft, parents, where)


def read_message(item: object, where: str) -> DraftMessage:
    if not isinstance(item, dict):
        raise ImportInvalid(f"{where} is not an object.")
    key = text(item, "id", where)
    parent = item.get("parent_id")
    if not key or (parent is not None and not isinstance(parent, str)):
        raise ImportInvalid(f"{where}: it needs a string id, and parent_id a string or null.")
    role = item.get("role")
    if role not in ROLES:
        raise ImportInvalid(f"{where}: the role {str(role)[:30]!r} is not user or assistant.")
    status = item.get("status", "complete")
    if status not in STATUSES:
        raise ImportInvalid(f"{where}: the status {str(status)[:30]!r} is unknown.")
    return DraftMessage(
        key=key,
        parent=parent,
        role=role,
        content=text(item, "content", where),
        created=parse_time(item.get("created"), where),
        status=STATUSES[status],
        model=text(item, "model", where)[:200],
        finish_reason=text(item, "finish_reason", where)[:32],
        error=text(item, "error", where),
        error_code=text(item, "error_code", where)[:32],
        usage=read_usage(item.get("usage"), where),
        feedback=read_feedback(item.get("feedback"), role, where),
    )


def read_usage(value: object, where: str) -> dict[str, int | None] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        value.get(k) is None or (type(value.get(k)) is int and value[k] >= 0) for k in USAGE_KEYS
    ):
        raise ImportInvalid(f"{where}: usage must hold whole numbers of tokens.")
    return {k: value.get(k) for k in USAGE_KEYS}


def read_feedback(value: object, role: str, where: str) -> dict[str, str] | None:
    if value is None or role != "assistant":
        return None
    if (
        not isinstance(value, dict)
        or value.get("rating") not in ("up", "down")
        or not isinstance(value.get("comment", ""), str)
    ):
        raise ImportInvalid(f'{where}: feedback must be {{"rating": "up" or "down", "comment"}}.')
    return {"rating": value["rating"], "comment": value.get("comment", "")[:2000]}


def check_summaries(value: object, parents: dict[str, str | None], where: str) -> None:
    """A conversation's summaries (issue #25; optional, from exports since then) are
    checked, then left behind: the import starts without any, and one is written again
    after an answer if the conversation is over the history budget."""
    if value is None:
        return
    if not isinstance(value, list):
        raise ImportInvalid(f'{where}: "summaries" must be a list.')
    for n, entry in enumerate(value):
        at = f"{where}, summary {n + 1}"
        if not isinstance(entry, dict):
            raise ImportInvalid(f"{at} is not an object.")
        text(entry, "text", at)
        if entry.get("covers_up_to") not in parents:
            raise ImportInvalid(f"{at}: covers_up_to is not one of its messages.")
        if entry.get("status", "ready") not in SUMMARY_STATUSES:
            raise ImportInvalid(f"{at}: the status {str(entry.get('status'))[:30]!r} is unknown.")
        if not isinstance(entry.get("edited", False), bool):
            raise ImportInvalid(f'{at}: "edited" must be true or false.')
