"""What an import file holds, read and checked before anything is written: pure.

Each source format (ours, ChatGPT's) becomes `Draft`s: conversations whose messages
carry their source ids only as keys of the tree (the rows get new ids). `check_tree`
refuses what no tree can be (an unknown parent, a cycle, a path deeper than
MAX_DEPTH); `in_creation_order` orders the messages so that a parent always comes
before its children and siblings keep their order, and gives each a distinct time in
that order: the database orders a conversation's messages by `created`, and its
versions ("< 1/2 >") follow that order.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chat.errors import ErrorCode, Refusal

FORMAT = "chat-export"
VERSION = 1
MAX_DEPTH = 5_000  # messages on one path from a root: deeper is refused
MAX_TITLE_CHARS = 200  # Conversation.title; longer titles are cut
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)


class ImportInvalid(Refusal):
    """A file that is not one we can import: nothing of it is written."""

    code = ErrorCode.INVALID

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


@dataclass
class DraftMessage:
    key: str  # its id in the source (never a row's id here)
    parent: str | None  # its parent's key
    role: str  # user or assistant
    content: str
    created: datetime | None = None
    status: str = "complete"
    model: str = ""
    finish_reason: str = ""
    error: str = ""
    error_code: str = ""
    usage: dict[str, int | None] | None = None
    feedback: dict[str, str] | None = None


@dataclass
class Draft:
    source: str  # "chat-export" or "chatgpt"
    source_id: str
    title: str
    messages: list[DraftMessage]
    leaf: str | None = None  # the key of the message shown last
    created: datetime | None = None
    model: str = ""
    instructions: str = ""
    temperature: float | None = None
    skipped: int = 0  # source nodes left out (system, tool, hidden)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The idempotency key: the source, its conversation id and what was kept of
        it. The same conversation imported again is found by it; one that has grown
        since is a new conversation (nothing of the first is lost or changed)."""
        digest = hashlib.sha256()
        digest.update(json.dumps([self.source, self.source_id, self.title]).encode())
        for m in self.messages:
            digest.update(json.dumps([m.key, m.parent, m.role, m.content]).encode())
        return digest.hexdigest()

    @property
    def text_bytes(self) -> int:
        return sum(len(m.content.encode()) for m in self.messages)


def check_tree(parents: dict[str, str | None], where: str) -> None:
    """Every parent is a message of the same conversation, no message is its own
    ancestor, and no path is deeper than MAX_DEPTH; ImportInvalid naming `where`."""
    depth: dict[str, int] = {}
    for start in parents:
        chain: list[str] = []
        node: str | None = start
        seen: set[str] = set()
        while node is not None and node not in depth:
            if node in seen:
                raise ImportInvalid(f"{where}: message {node} is its own ancestor (a cycle).")
            seen.add(node)
            chain.append(node)
            parent = parents[node]
            if parent is not None and parent not in parents:
                raise ImportInvalid(f"{where}: message {node} follows an unknown message {parent}.")
            node = parent
        base = depth[node] if node is not None else 0
        for offset, item in enumerate(reversed(chain), start=1):
            depth[item] = base + offset
            if depth[item] > MAX_DEPTH:
                raise ImportInvalid(
                    f"{where}: a path of more than {MAX_DEPTH:,} messages is deeper than "
                    "an import may be."
                )


def in_creation_order(messages: list[DraftMessage]) -> list[DraftMessage]:
    """The messages parents first, otherwise by their time (a message without one
    takes its parent's), then their order in the file; each gets a `created` strictly
    after the previous one's (its own time when that is later)."""
    children: dict[str | None, list[int]] = {}
    for index, message in enumerate(messages):
        children.setdefault(message.parent, []).append(index)
    ready: list[tuple[datetime, int]] = []

    def offer(indexes: list[int], inherited: datetime) -> None:
        for index in indexes:
            heapq.heappush(ready, (messages[index].created or inherited, index))

    offer(children.get(None, []), EPOCH)
    ordered: list[DraftMessage] = []
    last: datetime | None = None
    while ready:
        when, index = heapq.heappop(ready)
        message = messages[index]
        created = when if last is None or when > last else last + TICK
        message.created = last = created
        ordered.append(message)
        offer(children.get(message.key, []), when)
    return ordered


def finish(draft: Draft, parents: dict[str, str | None], where: str) -> Draft:
    """The draft checked as a tree and put in creation order; its leaf a message of
    it (or None: the newest is shown)."""
    check_tree(parents, where)
    draft.messages = in_creation_order(draft.messages)
    if draft.leaf is not None and draft.leaf not in parents:
        draft.leaf = None
    draft.title = draft.title.strip()[:MAX_TITLE_CHARS]
    return draft


def parse_time(value: object, where: str) -> datetime | None:
    """An ISO 8601 string or seconds since the epoch (ChatGPT's), or null."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ImportInvalid(f"{where}: a time must be a number or an ISO 8601 string.")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ImportInvalid(f"{where}: {value} is not a time.") from None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ImportInvalid(f"{where}: {value[:40]!r} is not an ISO 8601 time.") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise ImportInvalid(f"{where}: a time must be a number or an ISO 8601 string.")


def loads(raw: bytes) -> Any:
    """JSON, refusing an object with a key twice (a message id given twice would
    otherwise silently replace the first)."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            seen: set[str] = set()
            duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            raise ImportInvalid(f"The key {duplicate[:60]!r} appears twice in one object.")
        return result

    try:
        return json.loads(raw, object_pairs_hook=unique)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ImportInvalid(f"The file is not valid JSON ({str(exc)[:120]}).") from None
