"""What is said: the language a text is read in, and Markdown's symbols left unsaid."""

from __future__ import annotations

import pytest

from chat.speech.text import language_of, speakable


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hello there.", "en"),
        ("Pi is roughly 3.14, e.g. this.", "en"),
        ("こんにちは、これはデモです。", "ja"),
        ("カタカナだけ", "ja"),
        ("漢字", "ja"),
        ("ｶﾀｶﾅ", "ja"),  # half-width katakana
        ("The word 「ストリーミング」 means streaming.", "ja"),
        ("Le streaming permet de lire.", "en"),
        ("", "en"),
    ],
)
def test_language_of(text: str, language: str) -> None:
    assert language_of(text) == language


@pytest.mark.parametrize(
    ("markdown", "said"),
    [
        ("Plain sentence.", "Plain sentence."),
        ("## A heading\n", "A heading"),
        ("This is **bold** and *italic*.", "This is bold and italic."),
        ("Use `print()` here.", "Use print() here."),
        ("- first item\n- second item\n", "first item second item"),
        ("1. numbered stays\n", "1. numbered stays"),
        ("> a quote\n", "a quote"),
        ("See [the docs](https://example.com/x).", "See the docs."),
        ("![a cat](cat.png)", "a cat"),
        ("```python\nx = 1\n```\n", "x = 1"),
        ("| a | b |\n|---|---|\n| 1 | 2 |\n", "a b 1 2"),
        ("~~struck~~ through", "struck through"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("**", ""),
        ("\n\n", ""),
        ("「こんにちは」、**世界**。", "「こんにちは」、世界。"),
    ],
)
def test_speakable(markdown: str, said: str) -> None:
    assert speakable(markdown) == said
