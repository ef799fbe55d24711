"""Pure helpers for what is said: the language of a text and the text with its
Markdown symbols taken out (a speech engine would read `**` or `#` aloud)."""

from __future__ import annotations

import re

# Hiragana, katakana (full and half width), and CJK ideographs. A text with kana or
# kanji is read by the Japanese voice; everything else by the English one.
JAPANESE_SCRIPT = re.compile("[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")

_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_LINE_MARK = re.compile(r"^\s{0,3}(#{1,6}\s+|>\s?|[-*+]\s+)", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|~~|`+)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}.*$", re.MULTILINE)
_SPACES = re.compile(r"[ \t|]+")


def language_of(text: str) -> str:
    """`ja` when the text has Japanese script, else `en`."""
    return "ja" if JAPANESE_SCRIPT.search(text) else "en"


def speakable(text: str) -> str:
    """The text as it should be read aloud: Markdown's headings, list and quote marks,
    emphasis, code fences, table rules and link targets removed; white space collapsed
    ("" when nothing is left to say)."""
    text = _FENCE.sub("", text)
    text = _TABLE_RULE.sub("", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _LINE_MARK.sub("", text)
    text = _EMPHASIS.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return " ".join(line for line in lines if line)
