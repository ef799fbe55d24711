"""A share link's snapshot: a conversation's messages frozen into JSON. Pure, no queries.

The snapshot is what the shared page shows, and all it shows: the title and, for each
message, its role, text, status, model and time. Messages are numbered 0, 1, 2… in
the order they were written (`parent` is such a number): no id of the owner's rows,
no feedback, no instructions, no usage. `scope` "branch" keeps the path the
conversation shows; "tree" keeps every message, and `leaf` (the number of the
shown path's last message) says where the shared page starts; its "< 1/2 >"
switches (static/chat/shared.js) move between the versions the tree holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TypedDict

from chat.conversations.tree import Tree
from chat.models import Message, ShareLink

SNAPSHOT_VERSION = 1

# How long a new link lives: the API's `expires` (days, or never).
LIFETIMES: dict[str, timedelta | None] = {
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "never": None,
}


class SnapshotMessage(TypedDict):
    n: int
    parent: int | None
    role: str
    content: str
    status: str
    model: str
    created: str
    error: str


class Snapshot(TypedDict):
    version: int
    title: str
    scope: str
    leaf: int | None
    messages: list[SnapshotMessage]


def build_snapshot(
    *, title: str, scope: str, messages: Iterable[Message], leaf_id: str | None
) -> Snapshot:
    """The snapshot of `messages` (every message of the conversation, oldest first)
    whose shown path ends at `leaf_id` (the conversation's saved leaf; another or
    None: the newest message's path, as the chat page shows it)."""
    by_id = {str(message.pk): message for message in messages}
    tree = Tree((key, str(m.parent_id) if m.parent_id else None) for key, m in by_id.items())
    path = tree.path(tree.current_leaf(leaf_id))
    kept = path if scope == ShareLink.Scope.BRANCH else tree.order
    number = {key: n for n, key in enumerate(kept)}
    frozen: list[SnapshotMessage] = []
    for key in kept:
        message = by_id[key]
        parent = tree.parent[key]
        frozen.append(
            {
                "n": number[key],
                "parent": number[parent] if parent is not None else None,
                "role": message.role,
                "content": message.content,
                "status": message.status,
                "model": message.model_name,
                "created": message.created.isoformat() if message.created else "",
                "error": message.error if message.status == Message.Status.ERROR else "",
            }
        )
    return {
        "version": SNAPSHOT_VERSION,
        "title": title,
        "scope": scope,
        "leaf": number[path[-1]] if path else None,
        "messages": frozen,
    }


def shown_path(snapshot: Snapshot) -> list[SnapshotMessage]:
    """The messages the shared page shows first: from a root down to `leaf`."""
    by_number = {m["n"]: m for m in snapshot["messages"]}
    path: list[SnapshotMessage] = []
    node = snapshot["leaf"]
    while node is not None and node in by_number and len(path) <= len(by_number):
        path.append(by_number[node])
        node = by_number[node]["parent"]
    path.reverse()
    return path
