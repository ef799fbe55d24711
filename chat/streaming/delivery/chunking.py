"""Group streamed token deltas into the chunks a connection asked for.

Pure code, no I/O and no Django: one Chunker per connection and answer, fed every
delta in order, flushed once at the end whatever the ending. Whatever the split of
the text into deltas, the chunks emitted by `feed()` and `flush()` concatenate to
exactly the text, and (below the safety valve) they are the same chunks for every
split: a boundary is only emitted once the characters that decide it have arrived.
"""

from __future__ import annotations

MODES = ("token", "line", "sentence", "clause")
DEFAULT_MODE = "token"
DEFAULT_MAX_CHARS = 400

# Always end a sentence (full-width forms, no following space is needed in Japanese).
HARD_SENTENCE_ENDS = frozenset("。！？｡")
# End a sentence when followed by whitespace, a closing mark or non-ASCII text.
SOFT_SENTENCE_ENDS = frozenset(".!?")
# Clause mode also ends a chunk here; the full-width ones always do.
HARD_CLAUSE_ENDS = frozenset("、，；：")
SOFT_CLAUSE_ENDS = frozenset(",;:")
# Closing quotes and brackets that stay with the sentence they close.
CLOSERS = frozenset("\"'”’」』）)]】》〉")
HORIZONTAL_SPACE = frozenset(" \t\u3000")
# A '.' after one of these words is not a sentence end ("e.g. this", "Dr. Who").
ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "cf",
        "approx",
        "no",
        "fig",
        "inc",
        "ltd",
        "co",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "u.s",
        "a.m",
        "p.m",
    }
)

WAIT = -1  # a boundary may end here, but the characters that decide it are not in yet


class Chunker:
    """Base class: buffers text and emits it at the boundaries of its mode."""

    mode = "token"

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        if max_chars < 2:
            raise ValueError("max_chars must be at least 2")
        self.max_chars = max_chars
        self._buffer = ""

    @property
    def pending(self) -> str:
        """Text received but not emitted yet (moved to a new chunker on a mode change)."""
        return self._buffer

    def feed(self, delta: str) -> list[str]:
        raise NotImplementedError

    def flush(self) -> list[str]:
        """Called once at the end of an answer: emits everything still held."""
        raise NotImplementedError


class TokenChunker(Chunker):
    """Every non-empty delta is a chunk: what a browser rendering live wants."""

    mode = "token"

    def feed(self, delta: str) -> list[str]:
        return [delta] if delta else []

    def flush(self) -> list[str]:
        return []


class BoundaryChunker(Chunker):
    """Emits text up to each boundary that `find_boundary` confirms."""

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        super().__init__(max_chars)
        # Whether the buffer starts at the beginning of a line ("1. item" is no sentence).
        self._line_start = True

    def find_boundary(self, text: str, *, line_start: bool, final: bool) -> int | None:
        """Return the end of the first boundary in `text`, WAIT, or None if there is none."""
        raise NotImplementedError

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        return self._drain(final=False)

    def flush(self) -> list[str]:
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> list[str]:
        chunks: list[str] = []
        while self._buffer:
            end = self.find_boundary(self._buffer, line_start=self._line_start, final=final)
            if end is not None and end != WAIT and end <= self.max_chars:
                cut = end
            elif len(self._buffer) >= self.max_chars and (
                end is None or end == WAIT or end > self.max_chars
            ):  # the valve: no boundary settled within max_chars (a run of "!" waits forever)
                cut = self._valve_cut()
            elif final:
                cut = len(self._buffer)
            else:
                break
            chunk, self._buffer = self._buffer[:cut], self._buffer[cut:]
            self._line_start = chunk.endswith("\n")
            chunks.append(chunk)
        return chunks

    def _valve_cut(self) -> int:
        """Where to cut a buffer with no boundary in reach: the last space, else the limit."""
        window = self._buffer[: self.max_chars]
        space = max(window.rfind(" "), window.rfind("\t"))
        return space + 1 if space + 1 > self.max_chars // 2 else self.max_chars


class LineChunker(BoundaryChunker):
    """Each chunk is one whole line, newline included: what chat tools want."""

    mode = "line"

    def find_boundary(self, text: str, *, line_start: bool, final: bool) -> int | None:
        index = text.find("\n")
        return index + 1 if index >= 0 else None


class SentenceChunker(BoundaryChunker):
    """Each chunk is one sentence (or line), with its closing quotes and trailing space."""

    mode = "sentence"
    hard_ends = HARD_SENTENCE_ENDS
    soft_ends = SOFT_SENTENCE_ENDS

    def find_boundary(self, text: str, *, line_start: bool, final: bool) -> int | None:
        size = len(text)
        for i, char in enumerate(text):
            if char == "\n":
                return i + 1
            if char in self.hard_ends:
                return _extend(text, _skip(text, i + 1, self.hard_ends | SOFT_SENTENCE_ENDS), final)
            if char in self.soft_ends:
                after = _skip(text, i + 1, self.soft_ends)
                after = _skip(text, after, CLOSERS)
                if after == size:
                    if not final:
                        return WAIT
                    return size
                follower = text[after]
                if char == "." and after == i + 1 and not _is_sentence_dot(text, i, line_start):
                    continue
                if follower.isspace() or (after > i + 1 and text[after - 1] in CLOSERS):
                    return _extend(text, after, final)
                if not follower.isascii() and char in "!?":
                    return _extend(text, after, final)
        return None


class ClauseChunker(SentenceChunker):
    """As sentence, and also at commas, colons and semicolons: low latency for speech."""

    mode = "clause"
    hard_ends = HARD_SENTENCE_ENDS | HARD_CLAUSE_ENDS
    soft_ends = SOFT_SENTENCE_ENDS | SOFT_CLAUSE_ENDS


def _skip(text: str, index: int, chars: frozenset[str]) -> int:
    while index < len(text) and text[index] in chars:
        index += 1
    return index


def _extend(text: str, index: int, final: bool) -> int:
    """Take the closing marks and spaces (and one newline) after a sentence end.

    Returns WAIT while the text ends inside that run: the next delta may continue it.
    """
    index = _skip(text, index, CLOSERS)
    index = _skip(text, index, HORIZONTAL_SPACE)
    if index < len(text) and text[index] == "\n":
        return index + 1
    if index == len(text) and not final:
        return WAIT
    return index


def _is_sentence_dot(text: str, dot: int, line_start: bool) -> bool:
    """False for the '.' of an abbreviation, an initial ("J. Smith") or a list number."""
    start = dot
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot]
    if not word:
        return True
    if word.lower() in ABBREVIATIONS:
        return False
    if len(word) == 1 and word.isupper():
        return False
    at_line_start = text[start - 1] == "\n" if start > 0 else line_start
    return not (word.isdigit() and len(word) <= 3 and at_line_start)


_CHUNKERS: dict[str, type[Chunker]] = {
    "token": TokenChunker,
    "line": LineChunker,
    "sentence": SentenceChunker,
    "clause": ClauseChunker,
}


def make_chunker(mode: str, max_chars: int = DEFAULT_MAX_CHARS) -> Chunker:
    """Build the chunker for `mode` (one of MODES); ValueError for anything else."""
    try:
        return _CHUNKERS[mode](max_chars)
    except KeyError:
        raise ValueError(f"unknown chunking mode {mode!r}") from None


def rechunk(old: Chunker, mode: str) -> tuple[Chunker, list[str]]:
    """Switch a live stream to another mode without losing the text `old` still holds."""
    new = make_chunker(mode, old.max_chars)
    return new, new.feed(old.pending) if old.pending else []


FIRST_PIECE_CHARS = 24  # a spoken answer's first clause may end at a space past this


class SpeechChunker:
    """What a voice says, piece by piece: `mode`'s chunks, except that in clause mode an
    answer's first piece may end early, at the first space past `first_chars`, when no
    clause has ended by then. The first sound then waits for a few words, not a whole
    clause, and the engine synthesises fewer characters before it (a VOICEVOX-like
    engine's time grows with them: docs/voice.md). Japanese, with no spaces, ends its
    first clause at `、` anyway. The pieces joined are the text fed, as with any chunker."""

    def __init__(
        self, mode: str, max_chars: int = DEFAULT_MAX_CHARS, first_chars: int = FIRST_PIECE_CHARS
    ) -> None:
        self.mode = mode
        self.max_chars = max_chars
        self.first_chars = first_chars
        self._inner = make_chunker(mode, max_chars)
        self._lead: str | None = "" if mode == "clause" and first_chars > 0 else None

    def feed(self, delta: str) -> list[str]:
        if self._lead is None:
            return self._inner.feed(delta)
        self._lead += delta
        clause = make_chunker(self.mode, self.max_chars).feed(self._lead)
        if clause:
            cut = len(clause[0])
        else:
            cut = self._lead.find(" ", self.first_chars)
            if cut < 0:
                return []
        first, rest = self._lead[:cut], self._lead[cut:]
        self._lead = None
        return [first, *self._inner.feed(rest)] if first else self._inner.feed(rest)

    def flush(self) -> list[str]:
        held, self._lead = self._lead, None
        return [*(self._inner.feed(held) if held else []), *self._inner.flush()]
