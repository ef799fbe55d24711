"""What of a path goes to the model, and whether to summarise it (issue #25): pure.

`plan_context` is given the path's turns newest first (only those that may go to the
model: finished, not empty), the history budget and the summary that may stand in
for its older part. All of it goes when it fits. Else, with a summary: the summary
ahead of the turns after its branch point that fit with it. Without one: today's cut
(the newest turns that fit, the latest always; `pick_context`'s rule), and the point
up to which a summary should be written so the next request need not cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# A summary is asked to fit in this share of the budget: the rest is the recent turns.
SUMMARY_SHARE = 4  # a quarter
# Once a summary is due, the newest turns up to this share of the budget stay verbatim.
RECENT_SHARE = 2  # a half


@dataclass(frozen=True)
class Turn:
    id: str
    role: str
    length: int


@dataclass(frozen=True)
class Available:
    """A usable summary: its branch point (a turn's id) and its length."""

    covers: str
    length: int


@dataclass(frozen=True)
class Plan:
    sent: tuple[str, ...]  # the ids of the turns that go, oldest first
    summary: bool = False  # the summary goes ahead of them
    cut: bool = False  # older turns are left out with nothing standing in for them
    summarise_up_to: str | None = None  # a summary up to this turn would avoid the cut
    length: int = 0  # characters sent: the summary and the turns

    @property
    def fits(self) -> bool:
        return not self.cut


def summary_cap(budget: int) -> int:
    """The longest summary (the model's, cut to it, or its owner's)."""
    return max(budget // SUMMARY_SHARE, 1)


def plan_context(
    newest_first: Sequence[Turn], budget: int, summary: Available | None = None
) -> Plan:
    """What goes to the model of the path `newest_first` within `budget` characters
    (module docstring). A summary whose branch point is not among the turns is not
    used."""
    total = sum(turn.length for turn in newest_first)
    if total <= budget:
        return Plan(tuple(t.id for t in reversed(newest_first)), length=total)
    ids = [turn.id for turn in newest_first]
    if summary is not None and summary.covers in ids:
        after = newest_first[: ids.index(summary.covers)]
        kept = _newest_that_fit(after, budget - summary.length)
        length = summary.length + sum(t.length for t in kept)
        cut = len(kept) < len(after)
        point = _summary_point(newest_first, budget) if cut else None
        if point is not None and ids.index(point) >= ids.index(summary.covers):
            point = None  # nothing newer to summarise than what it covers
        sent = tuple(t.id for t in reversed(kept))
        return Plan(sent, summary=True, cut=cut, summarise_up_to=point, length=length)
    kept = _newest_that_fit(newest_first, budget)
    sent = tuple(t.id for t in reversed(kept))
    length = sum(t.length for t in kept)
    point = _summary_point(newest_first, budget)
    return Plan(sent, cut=True, summarise_up_to=point, length=length)


def _newest_that_fit(newest_first: Sequence[Turn], budget: int) -> list[Turn]:
    """The newest turns within `budget`, stopping at the first that does not fit; the
    latest always (`pick_context`'s rule)."""
    kept: list[Turn] = []
    for turn in newest_first:
        if kept and turn.length > budget:
            break
        kept.append(turn)
        budget -= turn.length
    return kept


def _summary_point(newest_first: Sequence[Turn], budget: int) -> str | None:
    """The newest turn a summary should cover: everything older than the newest turns
    that fill RECENT_SHARE of the budget (the latest always stays out of it); None
    when nothing would be left to summarise."""
    room = budget // RECENT_SHARE
    for index, turn in enumerate(newest_first):
        if index and turn.length > room:
            return turn.id
        room -= turn.length
    return None
