"""What of a path goes to the model, with or without a summary (context_plan, pure)."""

from __future__ import annotations

import pytest

from chat.conversations.context_plan import Available, Plan, Turn, plan_context, summary_cap
from chat.conversations.selectors import pick_context


def path(*lengths: int) -> list[Turn]:
    """Turns m1, m2, ... of these lengths given oldest first, returned newest first."""
    roles = ["user", "assistant"]
    turns = [Turn(f"m{i}", roles[(i - 1) % 2], n) for i, n in enumerate(lengths, 1)]
    return turns[::-1]


def ids(*numbers: int) -> tuple[str, ...]:
    return tuple(f"m{n}" for n in numbers)


@pytest.mark.parametrize(
    ("lengths", "budget", "summary", "expected"),
    [
        # Everything fits: all of it, no summary, nothing to summarise.
        ((3, 3, 4), 10, None, Plan(ids(1, 2, 3), length=10)),
        # Fits even with a summary at hand: the turns themselves, not the summary.
        ((3, 3, 4), 10, Available("m1", 2), Plan(ids(1, 2, 3), length=10)),
        # No summary: today's cut (4 + 4 fit, 3 more would not), and a summary is due
        # up to the turn before the newest half of the budget (m4 alone holds 4 of 5).
        (
            (3, 3, 3, 4, 4),
            10,
            None,
            Plan(ids(4, 5), cut=True, summarise_up_to="m4", length=8),
        ),
        # A summary up to m3: it and every turn after it, within the budget.
        (
            (3, 3, 3, 3, 4),
            10,
            Available("m3", 3),
            Plan(ids(4, 5), summary=True, length=10),
        ),
        # Too much after the summary: the newest that fit with it, and a new point.
        (
            (3, 3, 3, 3, 3, 4),
            10,
            Available("m2", 2),
            Plan(ids(5, 6), summary=True, cut=True, summarise_up_to="m5", length=9),
        ),
        # A summary whose branch point is not on the path is not used.
        (
            (3, 3, 3, 4, 4),
            10,
            Available("elsewhere", 1),
            Plan(ids(4, 5), cut=True, summarise_up_to="m4", length=8),
        ),
        # The latest turn always goes, even alone over the budget; nothing older to
        # summarise once it is the only turn.
        ((50,), 10, None, Plan(ids(1), cut=True, length=50)),
        ((3, 50), 10, None, Plan(ids(2), cut=True, summarise_up_to="m1", length=50)),
        # A summary as long as the budget (its owner wrote it): it and the latest turn,
        # and a new one is due over it and the turn left out.
        (
            (3, 3, 3, 4),
            10,
            Available("m2", 10),
            Plan(ids(4), summary=True, cut=True, summarise_up_to="m3", length=14),
        ),
        # Nothing after the branch point to summarise: no new point.
        (
            (3, 3, 3, 4),
            10,
            Available("m3", 10),
            Plan(ids(4), summary=True, length=14),
        ),
    ],
    ids=[
        "fits",
        "fits-summary-unused",
        "no-summary-cut",
        "summary-and-all-after",
        "summary-and-newest-after",
        "summary-off-path",
        "latest-alone",
        "latest-alone-older-one",
        "summary-fills-budget",
        "summary-fills-budget-nothing-newer",
    ],
)
def test_plan(lengths, budget, summary, expected) -> None:
    assert plan_context(path(*lengths), budget, summary) == expected


@pytest.mark.parametrize(
    "lengths",
    [(3, 3, 4), (3, 3, 3, 4, 4), (1, 20, 2, 2), (50,), (), (5, 5, 5, 5, 5, 5), (9, 1, 9, 1)],
)
def test_without_a_summary_it_sends_what_pick_context_keeps(lengths, settings) -> None:
    """The cut without a summary is today's, turn for turn (so nothing else changes)."""
    settings.CHAT_HISTORY_CHAR_BUDGET = 10
    turns = path(*lengths)
    picked = pick_context((t.role, "x" * t.length) for t in turns)
    plan = plan_context(turns, 10)
    assert len(plan.sent) == len(picked)
    assert plan.length == sum(len(content) for _, content in picked)


def test_a_summary_fits_in_a_quarter_of_the_budget() -> None:
    assert summary_cap(24000) == 6000
    assert summary_cap(2) == 1
