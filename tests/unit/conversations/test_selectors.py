"""What the model receives: the character budget of `pick_context`. No database."""

import pytest

from chat.conversations.selectors import parse_uuid, pick_context


@pytest.fixture
def budget(settings):
    settings.CHAT_HISTORY_CHAR_BUDGET = 10
    return settings


def newest_first(*contents: str) -> list[tuple[str, str]]:
    """Messages given oldest first, returned newest first as the queries give them."""
    roles = ["user", "assistant"]
    rows = [(roles[index % 2], content) for index, content in enumerate(contents)]
    return rows[::-1]


def test_everything_within_the_budget_goes_in_order(budget) -> None:
    assert pick_context(newest_first("aaa", "bbb", "cccc")) == [
        ("user", "aaa"),
        ("assistant", "bbb"),
        ("user", "cccc"),
    ]


def test_older_messages_are_dropped_once_the_budget_is_used(budget) -> None:
    # Newest first: 4 + 4 = 8 fit, the next 3 would make 11 > 10.
    picked = pick_context(newest_first("one", "two", "333", "4444", "5555"))
    assert picked == [("assistant", "4444"), ("user", "5555")]


def test_the_budget_is_filled_exactly(budget) -> None:
    assert [c for _, c in pick_context(newest_first("x", "55555", "55555"))] == ["55555", "55555"]


def test_an_older_message_stops_the_picking_even_if_one_before_it_would_fit(budget) -> None:
    """No gaps: the context is always the newest run of messages."""
    picked = pick_context(newest_first("a", "much too long for it", "12345678"))
    assert picked == [("user", "12345678")]


def test_the_latest_message_always_goes_even_over_the_budget(budget) -> None:
    long = "z" * 50
    assert pick_context(newest_first("earlier", long)) == [("assistant", long)]


def test_a_zero_budget_still_sends_the_latest(settings) -> None:
    settings.CHAT_HISTORY_CHAR_BUDGET = 0
    assert pick_context(newest_first("a", "b")) == [("assistant", "b")]


def test_nothing_in_nothing_out(budget) -> None:
    assert pick_context([]) == []
    assert pick_context(iter([])) == []


def test_parse_uuid_accepts_ids_and_refuses_anything_else() -> None:
    assert str(parse_uuid("6f1c2a3e-8b7d-4c5e-9f00-112233445566")) == (
        "6f1c2a3e-8b7d-4c5e-9f00-112233445566"
    )
    for bad in (None, "", "not-a-uuid", 42, "6f1c2a3e"):
        assert parse_uuid(bad) is None
