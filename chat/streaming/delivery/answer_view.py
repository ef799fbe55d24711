"""One connection's view of one streaming answer: pure, no I/O.

Deltas reach a connection with the character offset where they start. The view
keeps how much of the answer this connection already has, drops what it has
seen (a replay after a sync), reports a gap (a delta starting past its end),
chunks the rest and numbers the chunks it emits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chat.streaming.delivery.chunking import DEFAULT_MAX_CHARS, Chunker, make_chunker, rechunk


@dataclass
class StreamView:
    message_id: str
    mode: str
    length: int = 0  # characters of the answer this connection has (history + chunks)
    max_chars: int = DEFAULT_MAX_CHARS
    seq: int = 0
    chunker: Chunker = field(init=False)

    def __post_init__(self) -> None:
        self.chunker = make_chunker(self.mode, self.max_chars)

    def accept(self, offset: int, text: str) -> tuple[list[str], bool]:
        """Take text that starts at `offset`: (chunks to send, True if text is missing)."""
        if offset > self.length:
            return [], True
        fresh = text[self.length - offset :]
        if not fresh:
            return [], False
        self.length += len(fresh)
        return self.chunker.feed(fresh), False

    def finish(self) -> list[str]:
        return self.chunker.flush()

    def set_mode(self, mode: str) -> list[str]:
        self.mode = mode
        self.chunker, emitted = rechunk(self.chunker, mode)
        return emitted

    def number(self, chunks: list[str]) -> list[tuple[int, str]]:
        """Give each outgoing chunk its sequence number (0, 1, 2… per message)."""
        numbered = [(self.seq + index, chunk) for index, chunk in enumerate(chunks)]
        self.seq += len(chunks)
        return numbered
