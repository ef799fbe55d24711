"""AnswerText: the prefix and the deltas read back as one text, from any offset."""

from __future__ import annotations

import pytest

from chat.streaming.answer.text import AnswerText


@pytest.mark.parametrize(
    ("prefix", "deltas", "offset", "since"),
    [
        ("", [], 0, ""),
        ("", ["Hel", "lo"], 2, "llo"),
        ("Once upon", [" a", " time"], 9, " a time"),
        ("Once", [" more"], 99, ""),
    ],
)
def test_text_length_and_the_text_since_an_offset(
    prefix: str, deltas: list[str], offset: int, since: str
) -> None:
    answer = AnswerText(prefix)
    for delta in deltas:
        answer.append(delta)
    assert answer.text == prefix + "".join(deltas)
    assert answer.length == len(answer.text)
    assert answer.prefix_length == len(prefix)
    assert answer.since(offset) == since
