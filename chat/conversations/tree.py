"""A conversation's messages as a tree: pure, no Django.

Every message follows a parent (the conversation's first ones have none). A
regenerated answer is a sibling of the answer it replaces; an edited question a
sibling of the question it rewrites. What a conversation shows, and what the model
receives, is one path: from a root down to the conversation's leaf. `Tree` is built
from (id, parent id) pairs in the order the messages were created (selectors read
them) and answers the questions the server asks of it.
"""

from __future__ import annotations

from collections.abc import Iterable


class Tree:
    def __init__(self, rows: Iterable[tuple[str, str | None]]) -> None:
        """`rows`: (id, parent id or None) for every message, oldest first."""
        self.parent: dict[str, str | None] = {}
        self.children: dict[str | None, list[str]] = {}
        self.order: list[str] = []
        for message_id, parent_id in rows:
            self.add(message_id, parent_id)

    def add(self, message_id: str, parent_id: str | None) -> None:
        """A message created after every one the tree has."""
        self.parent[message_id] = parent_id
        self.children.setdefault(parent_id, []).append(message_id)
        self.order.append(message_id)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self.parent

    def path(self, leaf: str | None) -> list[str]:
        """The ids from a root down to `leaf` (empty for None or an unknown id)."""
        path: list[str] = []
        node = leaf
        while node is not None and node in self.parent and len(path) <= len(self.parent):
            path.append(node)
            node = self.parent[node]
        path.reverse()
        return path

    def siblings(self, message_id: str) -> list[str]:
        """The message and its alternatives (the same parent's children), oldest first."""
        if message_id not in self.parent:
            return [message_id]
        return self.children[self.parent[message_id]]

    def newest_leaf_under(self, message_id: str) -> str:
        """The leaf reached from `message_id` by always taking the newest child: what
        the conversation shows after switching to that message."""
        node = message_id
        for _ in range(len(self.order)):
            below = self.children.get(node)
            if not below:
                break
            node = below[-1]
        return node

    def current_leaf(self, leaf: str | None) -> str | None:
        """The conversation's saved leaf when it is one of its messages, else the
        newest message's leaf (a conversation whose leaf was never set or deleted)."""
        if leaf is not None and leaf in self.parent:
            return leaf
        return self.order[-1] if self.order else None
