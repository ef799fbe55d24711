"""The pace of posts per channel, and chunks merged into posts."""

from __future__ import annotations

import pytest

from chat.slack.pacing import MAX_POST_CHARS, Pace, interval_of, merged


@pytest.mark.parametrize(
    ("asks", "slots"),
    [
        ([("C1", 0.0)], [0.0]),
        ([("C1", 0.0), ("C1", 0.1), ("C1", 0.2)], [0.0, 1.0, 2.0]),  # faster: queued turns
        ([("C1", 0.0), ("C1", 5.0)], [0.0, 5.0]),  # slower: at once
        ([("C1", 0.0), ("C2", 0.0), ("C1", 0.5)], [0.0, 0.0, 1.0]),  # per channel
    ],
)
def test_slots(asks: list[tuple[str, float]], slots: list[float]) -> None:
    pace = Pace(interval=1.0)
    assert [pace.slot(channel, now) for channel, now in asks] == slots


@pytest.mark.parametrize(("rate", "interval"), [(1, 1.0), (4, 0.25), (0, 0.0), (-1, 0.0)])
def test_interval_of(rate: float, interval: float) -> None:
    assert interval_of(rate) == interval


@pytest.mark.parametrize(
    ("chunks", "posts"),
    [
        (["One.\n"], ["One."]),
        (["One.\n", "Two.\n", "Three."], ["One.\nTwo.\nThree."]),
        (["\n"], []),
        (["\n", "  \n"], []),
        (["\nText\n\n"], ["Text"]),
        (["    indented code\n"], ["    indented code"]),
        (["One. ", "Two. "], ["One. Two."]),  # sentences: the space after the last one goes
        ([], []),
    ],
)
def test_merged(chunks: list[str], posts: list[str]) -> None:
    assert merged(chunks) == posts


def test_merged_splits_long_text_at_lines() -> None:
    line = "x" * 1000 + "\n"
    posts = merged([line] * 7)
    assert all(len(p) <= MAX_POST_CHARS for p in posts)
    assert "\n".join(posts) == (line * 7).strip("\n")
    assert len(posts) == 4  # two lines (2,001 characters) a post
