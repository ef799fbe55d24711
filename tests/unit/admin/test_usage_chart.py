"""The usage chart's geometry and the exports' conversation settings: pure, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import User

from chat.admin import transcripts as review
from chat.models import Conversation, Message


@pytest.mark.parametrize(
    ("peak", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (5, 5), (6, 10), (22, 50), (101, 200)]
)
def test_the_y_axis_tops_at_a_1_2_5_number(peak: int, top: int) -> None:
    assert review.nice_ceiling(peak) == top


def rows(counts: list[int], start: date = date(2026, 1, 30)) -> list[dict]:
    return [
        {"day": start + timedelta(days=i), "messages": n, "answers": n, "errors": 0}
        for i, n in enumerate(counts)
    ]


def test_axes_label_counts_and_spread_dates() -> None:
    """Counts 0, half and top on the y axis, at the plot's bottom, middle and top;
    at most X_LABELS dates, the first day's first, each under its day's bars."""
    days = rows([1] * 29 + [8])  # top 10
    axes = review.chart_axes(days)
    assert [(t["label"], t["y"]) for t in axes["y_ticks"]] == [
        (0, review.PLOT_BOTTOM),
        (5, (review.PLOT_BOTTOM + review.PLOT_TOP) / 2),
        (10, review.PLOT_TOP),
    ]
    labels = [t["label"] for t in axes["x_ticks"]]
    assert labels[0] == "01-30" and len(labels) <= review.X_LABELS
    assert "02-03" in labels  # every 4th day of 30
    bars = [b for b in review.chart_bars(days) if b["kind"] == "messages"]
    assert bars[-1]["y"] == pytest.approx(review.PLOT_BOTTOM - 0.8 * 150)
    assert all(review.PLOT_LEFT <= b["x"] < review.PLOT_RIGHT for b in bars)


def test_csv_rows_carry_the_conversation_settings_formula_safe() -> None:
    conversation = Conversation(
        owner=User(username="alice"), model="m", temperature=0.7, instructions="=1+1"
    )
    item = Message(
        conversation=conversation, content="hi", role="user", created=datetime.now(tz=UTC)
    )
    row = dict(zip(review.CSV_COLUMNS, review.csv_row(item), strict=True))
    assert (row["conversation_model"], row["temperature"], row["instructions"]) == (
        "m",
        0.7,
        "'=1+1",
    )
