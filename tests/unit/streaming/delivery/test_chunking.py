"""The chunkers: hand-written boundary cases and properties over any split of the text."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.streaming.delivery.chunking import MODES, SpeechChunker, make_chunker, rechunk


def run(mode: str, deltas: list[str], max_chars: int = 400) -> list[str]:
    chunker = make_chunker(mode, max_chars)
    chunks: list[str] = []
    for delta in deltas:
        chunks += chunker.feed(delta)
    return chunks + chunker.flush()


def by_char(text: str) -> list[str]:
    return list(text)


@pytest.mark.parametrize(
    ("mode", "text", "expected"),
    [
        ("line", "one\ntwo\nthree", ["one\n", "two\n", "three"]),
        ("line", "no newline at all", ["no newline at all"]),
        ("line", "a\n\nb\n", ["a\n", "\n", "b\n"]),
        ("line", "日本語の行\n次の行", ["日本語の行\n", "次の行"]),
        (
            "sentence",
            "Hello world. How are you? Fine!",
            ["Hello world. ", "How are you? ", "Fine!"],
        ),
        ("sentence", "Pi is 3.14 exactly. Next", ["Pi is 3.14 exactly. ", "Next"]),
        ("sentence", "Ask Dr. Who, e.g. now. Yes", ["Ask Dr. Who, e.g. now. ", "Yes"]),
        ("sentence", "J. R. R. Tolkien wrote. It", ["J. R. R. Tolkien wrote. ", "It"]),
        ("sentence", 'He said "Stop." Then left.', ['He said "Stop." ', "Then left."]),
        ("sentence", "Wait... what?! Ok", ["Wait... ", "what?! ", "Ok"]),
        ("sentence", "1. First item\n2. Second", ["1. First item\n", "2. Second"]),
        ("sentence", "Line one\nLine two", ["Line one\n", "Line two"]),
        ("sentence", "End.\nNext.", ["End.\n", "Next."]),
        ("sentence", "visit example.com/?q=1 now", ["visit example.com/?q=1 now"]),
        ("sentence", "こんにちは。元気ですか？はい！", ["こんにちは。", "元気ですか？", "はい！"]),
        ("sentence", "「行こう。」と言った。", ["「行こう。」", "と言った。"]),
        ("sentence", "すごい!次は?そう", ["すごい!", "次は?", "そう"]),
        ("sentence", "I like 日本。 It is fun. 本当", ["I like 日本。 ", "It is fun. ", "本当"]),
        ("sentence", "数値は3.5倍です。", ["数値は3.5倍です。"]),
        ("clause", "First, second; third: done.", ["First, ", "second; ", "third: ", "done."]),
        (
            "clause",
            "It costs 1,000 dollars at 10:30, ok",
            ["It costs 1,000 dollars at 10:30, ", "ok"],
        ),
        ("clause", "はい、そうです：本当に。", ["はい、", "そうです：", "本当に。"]),
        ("clause", "See http://x.org now", ["See http://x.org now"]),
        ("token", "ab", ["a", "b"]),
    ],
)
def test_hand_written_cases(mode: str, text: str, expected: list[str]) -> None:
    """Each boundary rule of DESIGN.md, fed one character at a time and all at once."""
    assert run(mode, by_char(text)) == expected
    if mode != "token":
        assert run(mode, [text]) == expected


def test_token_mode_emits_each_delta_and_skips_empty_ones() -> None:
    """Token mode is a pass-through: no buffering, nothing left for flush."""
    chunker = make_chunker("token")
    assert chunker.feed("Hel") == ["Hel"]
    assert chunker.feed("") == []
    assert chunker.feed("lo") == ["lo"]
    assert chunker.flush() == []


def test_remainder_is_flushed_without_trailing_newline() -> None:
    """The seed demo's bug: the last line without a newline was never sent."""
    chunker = make_chunker("line")
    assert chunker.feed("first\nsecond line, no newline") == ["first\n"]
    assert chunker.flush() == ["second line, no newline"]
    assert chunker.flush() == []


def test_boundary_waits_for_the_deciding_character() -> None:
    """A '.' at the end of a delta is undecided until the next character arrives."""
    chunker = make_chunker("sentence")
    assert chunker.feed("It is 3.") == []
    assert chunker.feed("14. And") == ["It is 3.14. "]
    assert chunker.flush() == ["And"]


def test_safety_valve_cuts_long_text_without_boundaries() -> None:
    """No chunk grows past max_chars; cuts prefer a space."""
    text = ("word " * 100) + "x" * 90
    chunks = run("sentence", by_char(text), max_chars=50)
    assert "".join(chunks) == text
    assert all(len(chunk) <= 50 for chunk in chunks)
    assert chunks[0] == "word " * 10
    assert run("line", ["y" * 120], max_chars=50) == ["y" * 50, "y" * 50, "y" * 20]


def test_mode_switch_keeps_pending_text() -> None:
    """Switching mode mid-answer moves the held text to the new chunker."""
    old = make_chunker("sentence")
    assert old.feed("Half a sent") == []
    new, emitted = rechunk(old, "token")
    assert emitted == ["Half a sent"]
    assert new.feed("ence.") == ["ence."]


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        make_chunker("word")


ALPHABET = st.sampled_from(
    list("ab xyZ.,!?;:\n\t3") + list("。、！？「」：日本語") + ['"', ")", "…", "é", "👍"]
)


@st.composite
def text_and_split(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = draw(st.text(alphabet=ALPHABET, max_size=200))
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=40)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(case=text_and_split(), mode=st.sampled_from(MODES), max_chars=st.integers(2, 60))
def test_chunks_concatenate_to_the_text(
    case: tuple[str, list[str]], mode: str, max_chars: int
) -> None:
    """For any text, any split into deltas and any limit, nothing is lost or repeated."""
    text, deltas = case
    chunks = run(mode, deltas, max_chars)
    assert "".join(chunks) == text
    assert all(chunks)
    if mode != "token":
        assert all(len(chunk) <= max_chars for chunk in chunks)


@settings(max_examples=400, deadline=None)
@given(case=text_and_split(), mode=st.sampled_from(["line", "sentence", "clause"]))
def test_chunks_do_not_depend_on_the_split(case: tuple[str, list[str]], mode: str) -> None:
    """Streaming gives the chunks the whole text gives: no chunk ends mid-boundary.

    Below the size valve, every chunk but the last ends where the whole text has a
    boundary, however the deltas cut it.
    """
    text, deltas = case
    whole = run(mode, [text], max_chars=1000)
    assert run(mode, deltas, max_chars=1000) == whole
    for chunk in whole[:-1]:
        assert (
            chunk.endswith(("\n", " ", "\t", "\u3000"))
            or chunk[-1] in "。！？、，；：」』）)\"'!?.,;:"
        )


@pytest.mark.parametrize("mode", ["line", "sentence", "clause"])
@pytest.mark.parametrize("unit", ["!", "?!", "...", "。 ", "x", " ", "、"])
def test_a_run_that_never_settles_a_boundary_still_honours_the_valve(mode, unit) -> None:
    """Thousands of `!` (a sentence end that waits for what follows) used to grow the
    buffer without bound and rescan it on every delta; the valve now cuts it."""
    chunker = make_chunker(mode, 400)
    chunks: list[str] = []
    for _ in range(4000):
        chunks += chunker.feed(unit * 5)
        assert len(chunker.pending) < 400
    chunks += chunker.flush()
    assert "".join(chunks) == unit * 5 * 4000
    assert max(map(len, chunks)) <= 400


@pytest.mark.parametrize(
    ("mode", "deltas", "pieces"),
    [
        # No clause ends within the first words: the first piece ends at a space past 24.
        (
            "clause",
            [
                "Streaming",
                " speech",
                " starts",
                " with",
                " a",
                " simple",
                " idea:",
                " you",
                " wait.",
            ],
            ["Streaming speech starts with", " a simple idea: ", "you wait."],
        ),
        # A clause that ends first is the first piece, as in clause mode.
        (
            "clause",
            ["Yes,", " of", " course.", " More", " here."],
            ["Yes, ", "of course. ", "More here."],
        ),
        # Japanese: no spaces, the first clause ends at 、.
        (
            "clause",
            ["音声の", "逐次合成は", "、とても", "単純です。"],
            ["音声の逐次合成は、", "とても単純です。"],
        ),
        # An answer shorter than the first piece: all of it at the end.
        ("clause", ["Short", " answer"], ["Short answer"]),
        # Sentence mode is the sentence chunker's, unchanged.
        (
            "sentence",
            ["Streaming", " speech", " starts", " with", " a", " simple", " idea:", " wait."],
            ["Streaming speech starts with a simple idea: wait."],
        ),
    ],
)
def test_a_spoken_answers_first_piece_may_end_early(
    mode: str, deltas: list[str], pieces: list[str]
) -> None:
    chunker = SpeechChunker(mode)
    got = [piece for delta in deltas for piece in chunker.feed(delta)] + chunker.flush()
    assert got == pieces
    assert "".join(got) == "".join(deltas)
