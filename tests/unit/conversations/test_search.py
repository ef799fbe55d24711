"""The search's pure helpers: query parsing, the tsquery string, snippets and highlights."""

from __future__ import annotations

import pytest

from chat.conversations.search import (
    SNIPPET_CHARS,
    Term,
    match_pattern,
    parse_query,
    snippet,
    tsquery,
)


def marked(text: str, spans: list[tuple[int, int]]) -> str:
    """The snippet with its highlights shown as [brackets], to read tests at a glance."""
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], "[", text[start:end], "]"]
        last = end
    return "".join([*out, text[last:]])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("hello", [Term("hello", prefix=True)]),
        ("Hello World", [Term("hello", False), Term("world", True)]),
        ("hello world ", [Term("hello", False), Term("world", False)]),
        ("hello, world!", [Term("hello", False), Term("world", False)]),
        ("it's", [Term("it", False), Term("s", True)]),
        ("snake_case", [Term("snake", False), Term("case", True)]),
        ("cat cat Cat", [Term("cat", True)]),
        ("東京 に", [Term("東京", False), Term("に", True)]),
        ("Ünïcode", [Term("ünïcode", True)]),
        ("   ", []),
        ("!!! ' & | :* ()", []),
        ("", []),
    ],
)
def test_parse_query(query: str, expected: list[Term]) -> None:
    assert parse_query(query) == expected


def test_parse_query_keeps_at_most_eight_words() -> None:
    assert [t.text for t in parse_query("a b c d e f g h i j")] == list("abcdefgh")


def test_tsquery_quotes_every_word_and_only_the_prefix_gets_a_star() -> None:
    """A parsed term holds letters and digits only: tsquery syntax cannot get in."""
    terms = parse_query("x'):* | !y & z")
    assert tsquery(terms) == "'x' & 'y' & 'z':*"


@pytest.mark.parametrize(
    ("terms", "whole_words", "text", "expected"),
    [
        ([Term("cat", False)], True, "cat cats concat Cat.", "[cat] cats concat [Cat]."),
        ([Term("cat", True)], True, "cat cats concat", "[cat] [cat]s concat"),
        ([Term("cat", False)], False, "cat cats concat", "[cat] [cat]s con[cat]"),
        (
            [Term("new", False), Term("newt", True)],
            True,
            "new newton",
            "[new] [newt]on",
        ),
        ([Term("東京", True)], True, "行く 東京都へ", "行く [東京]都へ"),
    ],
)
def test_match_pattern(terms: list[Term], whole_words: bool, text: str, expected: str) -> None:
    assert marked(*snippet(text, match_pattern(terms, whole_words=whole_words))) == expected


def test_snippet_collapses_white_space_and_keeps_short_text_whole() -> None:
    text, spans = snippet(
        "line one\n\n  line   two", match_pattern([Term("two", False)], whole_words=True)
    )
    assert marked(text, spans) == "line one line [two]"


def test_snippet_of_long_text_is_cut_at_spaces_around_the_first_match() -> None:
    words = " ".join(f"w{i}" for i in range(200))
    text, spans = snippet(words, match_pattern([Term("w100", False)], whole_words=True))
    assert text.startswith("…w") and text.endswith("…")
    assert len(text) <= SNIPPET_CHARS + 2
    assert " w100 " in text and text[spans[0][0] : spans[0][1]] == "w100"
    assert text[1:].split(" ")[0] in words.split(" ")  # no word cut in half at the start


def test_snippet_without_a_match_is_the_beginning() -> None:
    text, spans = snippet("x" * 500, match_pattern([Term("zzz", False)], whole_words=True))
    assert spans == [] and text == "x" * SNIPPET_CHARS + "…"


def test_snippet_is_plain_text_with_ranges_so_markup_stays_text() -> None:
    """The snippet carries no markup of its own; a message's <script> stays characters
    (search.js puts it in text nodes), and the ranges cover only the matched word."""
    message = 'see <script>alert(1)</script> and <img src=x onerror="alert(2)"> needle'
    text, spans = snippet(message, match_pattern(parse_query("needle"), whole_words=True))
    assert text == message
    assert [text[a:b] for a, b in spans] == ["needle"]
    text, spans = snippet(message, match_pattern(parse_query("script"), whole_words=True))
    assert [text[a:b] for a, b in spans] == ["script", "script"]


def test_ranges_count_code_points_not_utf16_units() -> None:
    _text, spans = snippet("🎉🎉 party", match_pattern(parse_query("party"), whole_words=True))
    assert spans == [(3, 8)]


def test_no_terms_highlight_nothing() -> None:
    assert snippet("anything", match_pattern([], whole_words=True)) == ("anything", [])
