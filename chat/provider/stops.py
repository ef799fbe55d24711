"""Stop sequences (OpenAI's `stop`) applied to a streamed text, pure.

The sequences go to the model, and a server that honours them ends the answer before
them. Not every model does (the offline demo model, a factory's own model, some
OpenAI-compatible servers): `StopCutter` ends the text before the first of them all
the same, holding back the few characters that could be the start of one.
"""

from __future__ import annotations

from collections.abc import Sequence


class StopCutter:
    """Feed it the deltas; it gives back what may be sent, and `stopped` once a stop
    sequence was found (the text ends before it and never contains it)."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self.hold = max((len(stop) for stop in self.stops), default=1) - 1
        self.pending = ""
        self.stopped = False

    def feed(self, delta: str) -> str:
        """The text that can be sent now (maybe empty); nothing once stopped."""
        if self.stopped:
            return ""
        text = self.pending + delta
        cut = first_stop(text, self.stops)
        if cut is not None:
            self.stopped, self.pending = True, ""
            return text[:cut]
        # Whatever could begin a stop sequence waits for the next delta.
        keep = max(len(text) - self.hold, 0)
        self.pending = text[keep:]
        return text[:keep]

    def flush(self) -> str:
        """The text held back, at the end of the answer."""
        rest, self.pending = self.pending, ""
        return rest


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where `text` is cut: before the stop sequence that ends first, as a model that
    honours them stops as soon as one is written (of two ending together, the longer);
    None when there is none."""
    ends = [(at + len(stop), at) for stop in stops if stop and (at := text.find(stop)) >= 0]
    return min(ends)[1] if ends else None
