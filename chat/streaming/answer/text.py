"""An answer's text as it grows: the prefix it starts with and the model's deltas."""

from __future__ import annotations


class AnswerText:
    """The prefix (a continuation's, else empty) and every delta appended after it,
    joined only when read: an answer reads its text far less often than it grows."""

    def __init__(self, prefix: str = "") -> None:
        self._parts: list[str] = [prefix] if prefix else []
        self._length = len(prefix)
        self.prefix_length = len(prefix)

    def append(self, delta: str) -> None:
        self._parts.append(delta)
        self._length += len(delta)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def length(self) -> int:
        return self._length

    def since(self, offset: int) -> str:
        """The text from character `offset` on (what a tab that has `offset` lacks)."""
        return self.text[offset:]
