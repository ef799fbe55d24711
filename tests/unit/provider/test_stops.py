"""The stop sequences' cutter (chat/provider/stops.py): fed deltas as a model streams
them, it gives back the text up to the first stop sequence, never any of it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.provider.stops import StopCutter, first_stop


def run(stops: list[str], deltas: list[str]) -> tuple[str, bool]:
    cutter = StopCutter(stops)
    text = "".join(cutter.feed(delta) for delta in deltas)
    return text + cutter.flush(), cutter.stopped


@pytest.mark.parametrize(
    ("stops", "deltas", "text", "stopped"),
    [
        (["END"], ["One ", "two"], "One two", False),
        (["END"], ["One END two"], "One ", True),
        (["END"], ["One E", "N", "D two"], "One ", True),  # split over three deltas
        (["END"], ["One EN", "X"], "One ENX", False),  # a prefix that was not one
        (["\n\n", "User:"], ["Hi.\n", "\nUser: more"], "Hi.", True),
        (["b", "abc"], ["xab", "c"], "xa", True),  # the first in the text wins
        (["END"], ["END"], "", True),
        (["", "Z"], ["aZb"], "a", True),  # empty sequences are ignored
        (["b", "ab."], ["a", "b", "."], "a", True),  # "b" ends first: the model stops there
        (["b", "abc"], ["xabc"], "xa", True),  # the same in one delta
    ],
)
def test_the_text_ends_before_the_first_stop_sequence(
    stops: list[str], deltas: list[str], text: str, stopped: bool
) -> None:
    assert run(stops, deltas) == (text, stopped)


def test_nothing_comes_after_a_stop() -> None:
    cutter = StopCutter(["."])
    assert cutter.feed("One. Two.") == "One"
    assert cutter.feed(" Three") == "" and cutter.flush() == ""


@given(
    st.lists(st.text(alphabet="ab.", min_size=1, max_size=3), min_size=1, max_size=4),
    st.lists(st.text(alphabet="ab. ", max_size=8), max_size=8),
)
def test_any_split_gives_the_text_before_the_first_stop(
    stops: list[str], deltas: list[str]
) -> None:
    """However the text is split, it ends where the whole text would: before the stop
    sequence that ends first."""
    whole = "".join(deltas)
    cut = first_stop(whole, stops)
    expected = whole if cut is None else whole[:cut]
    assert run(stops, deltas) == (expected, cut is not None)
