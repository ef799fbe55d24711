"""Pure helpers of the write side: no database."""

import pytest

from chat.conversations.services import conversation_marks, derive_title


@pytest.mark.parametrize(
    ("content", "title"),
    [
        ("Hello there", "Hello there"),
        ("\n\n   \n  Hello there  \nSecond line", "Hello there"),  # first line with text
        ("", ""),
        (" \n\t\n ", ""),
    ],
)
def test_title_is_the_first_line_with_text(content: str, title: str) -> None:
    assert derive_title(content) == title


def test_long_first_line_is_cut_on_a_word() -> None:
    content = "The quick brown fox jumps over the lazy dog and keeps running far away"
    title = derive_title(content, limit=28)  # the limit falls inside "over"
    assert title == "The quick brown fox jumps…"
    assert len(title) <= 28 + 1  # the limit plus the ellipsis


def test_cut_never_ends_in_a_space() -> None:
    assert derive_title("aaaa     bbbbbbbbbbbb", limit=10) == "aaaa…"


def test_a_line_with_no_spaces_is_cut_at_the_limit() -> None:
    assert derive_title("x" * 100, limit=60) == "x" * 60 + "…"


def test_exactly_the_limit_is_kept_whole() -> None:
    assert derive_title("y" * 60) == "y" * 60
    assert derive_title("y" * 61) == "y" * 60 + "…"
    assert derive_title("ab cd", limit=5) == "ab cd"


def test_cjk_is_counted_in_characters_not_bytes() -> None:
    assert derive_title("你好世界" * 10, limit=60) == "你好世界" * 10  # 40 characters
    assert derive_title("你好世界" * 20, limit=60) == ("你好世界" * 15) + "…"
    assert derive_title("日本語の文 " * 12, limit=20) == "日本語の文 日本語の文 日本語の文…"


# Pinned and archived after a change: (before), (asked: pin, archive) -> (after).
# Never both at once: archiving unpins, pinning brings an archived one back, and when
# both are asked archiving wins. None: that one was not asked.
@pytest.mark.parametrize(
    ("pinned", "archived", "pin", "archive", "after"),
    [
        (False, False, True, None, (True, False)),
        (True, False, False, None, (False, False)),
        (True, False, True, None, (True, False)),  # pinned again: stays pinned
        (False, False, None, True, (False, True)),
        (True, False, None, True, (False, True)),  # archiving unpins
        (False, True, None, False, (False, False)),
        (False, True, True, None, (True, False)),  # pinning brings it back
        (False, False, True, True, (False, True)),  # both asked: archived wins
        (True, False, True, False, (True, False)),
        (False, True, False, False, (False, False)),
        (True, False, None, None, (True, False)),  # nothing asked: nothing changes
        (False, True, None, None, (False, True)),
    ],
)
def test_conversation_marks(
    pinned: bool, archived: bool, pin: bool | None, archive: bool | None, after: tuple
) -> None:
    assert conversation_marks(pinned=pinned, archived=archived, pin=pin, archive=archive) == after
