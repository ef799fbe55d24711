"""An HTTP stream's event id (chat/streams.py Position): `<answer id>:<offset>`."""

from __future__ import annotations

import pytest

from chat.streaming.stream.follow import Position

ANSWER = "3f2b6a52-8a4c-4d8e-9c1e-0a5b7c9d1e2f"


@pytest.mark.parametrize("offset", [0, 1, 42, 999_999_999])
def test_an_event_id_round_trips(offset: int) -> None:
    position = Position(ANSWER, offset)
    assert str(position) == f"{ANSWER}:{offset}"
    assert Position.parse(str(position)) == position


def test_the_offset_defaults_to_zero() -> None:
    assert str(Position(ANSWER)) == f"{ANSWER}:0"


def test_surrounding_whitespace_is_ignored() -> None:
    assert Position.parse(f"  {ANSWER}:7\r\n") == Position(ANSWER, 7)


def test_the_offset_is_after_the_last_colon() -> None:
    assert Position.parse("a:b:3") == Position("a:b", 3)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        ANSWER,
        f"{ANSWER}:",
        ":5",
        f"{ANSWER}:-1",
        f"{ANSWER}:+1",
        f"{ANSWER}:1.5",
        f"{ANSWER}:1e3",
        f"{ANSWER}: 5",
        f"{ANSWER}:five",
        f"{ANSWER}:1234567890",  # more than 9 digits
        "x" * 65 + ":1",  # an id longer than any of ours
        f"{ANSWER}:²",  # a digit to str.isdigit, not to int(): latin-1 byte 0xB2
        f"{ANSWER}:١٢",  # Arabic-Indic digits
    ],
)
def test_a_value_that_is_not_one_of_our_event_ids_is_none(value: str) -> None:
    assert Position.parse(value) is None


def test_the_longest_id_and_offset_are_accepted() -> None:
    assert Position.parse("x" * 64 + ":123456789") == Position("x" * 64, 123_456_789)
