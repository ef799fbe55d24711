"""The offline demo model's words: its sentences, the instructions it obeys and how
temperature varies its wording. Pure: no Django, no LangChain.

Instructions are recognised by keyword (INSTRUCTIONS, documented in the README): a
language (English, Japanese, French), a length (short, long) and a tone (formal,
pirate). Temperature swaps words for synonyms (SYNONYMS): none at 0 or unset, more
the higher it is, chosen by a random generator seeded with the reply, so the same
request always gets the same words.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

ENGLISH = [
    "Streaming lets you read an answer while it is still being written.",
    "Each browser tab keeps its own connection, so nothing gets mixed up between users.",
    "Pi is roughly 3.14, and e.g. a circle of radius 2 has an area of about 12.57.",
    "Dr. Smith says short sentences are easier to speak aloud.",
    "Line mode waits for a newline; sentence mode waits for a full stop.",
    "Clause mode is faster for speech: it also breaks at commas, colons and semicolons.",
    "Is this a question? Yes, and it ends with a question mark!",
    "Every answer is saved, so a reload never loses it.",
]
JAPANESE = [
    "こんにちは、これはオフラインのデモモデルです。",
    "文ごとに区切ると、音声合成がとても自然になります。",
    "今日はいい天気ですね！散歩に行きましょうか？",
    "この返事は、質問の内容によって変わります。",
    "「ストリーミング」とは、少しずつ届くことです。",
    "句読点（、と。）で区切ることができます。",
]
FRENCH = [
    "Le streaming permet de lire une réponse pendant qu'elle s'écrit.",
    "Chaque onglet garde sa propre connexion, donc rien ne se mélange.",
    "Chaque réponse est enregistrée : un rechargement ne la perd jamais.",
    "Le mode phrase attend un point ; le mode ligne attend un retour à la ligne.",
    "Est-ce une question ? Oui, et elle finit par un point d'interrogation !",
    "Les phrases courtes sont plus faciles à lire à voix haute.",
]
SENTENCES = {"en": ENGLISH, "ja": JAPANESE, "fr": FRENCH}


@dataclass(frozen=True)
class Style:
    """How to answer. language "": English and Japanese mixed (the default demo)."""

    language: str = ""  # "", "en", "ja", "fr"
    length: str = "normal"  # "short", "normal", "long"
    tone: str = "plain"  # "plain", "formal", "pirate"


# The instructions the demo obeys: (pattern, what it sets, to what). Matched in the
# system prompt (the operator's and the conversation's instructions), ignoring case;
# for each of language, length and tone the first row that matches wins.
INSTRUCTIONS: list[tuple[str, str, str]] = [
    (r"\bjapanese\b|日本語", "language", "ja"),
    (r"\bfrench\b|\bfrançais\b|\bfrancais\b", "language", "fr"),
    (r"\benglish\b|英語", "language", "en"),
    (r"\b(brief|short|concise|terse)\b|簡潔|短く", "length", "short"),
    (r"\b(detailed|long|verbose|elaborate)\b|詳しく", "length", "long"),
    (r"\bpirate\b", "tone", "pirate"),
    (r"\b(formal|polite)\b|丁寧", "tone", "formal"),
]


def style_of(system_text: str, language: str = "") -> Style:
    """The style the instructions in `system_text` ask for; `language` when they name none."""
    chosen = {"language": language, "length": "normal", "tone": "plain"}
    seen: set[str] = set()
    for pattern, field, value in INSTRUCTIONS:
        if field not in seen and re.search(pattern, system_text, re.IGNORECASE):
            chosen[field] = value
            seen.add(field)
    return Style(**chosen)


# What each language says around the sentences: {quote}, {earlier}, {attempt}, {code}.
FRAMES: dict[str, dict[str, str]] = {
    "en": {
        "said": 'You said: "{quote}". This conversation had {earlier} earlier messages.',
        "attempt": " This is try {attempt} at this answer.",
        "code": "Reply code {code}, made offline.",
        "formal": "Certainly. ",
        "closing": "I remain at your disposal.",
        "more": "To go on from there:",
    },
    "ja": {
        "said": (
            "「{quote}」とのことですね。この会話には、これまでに{earlier}件のメッセージがあります。"
        ),
        "attempt": "この答えは{attempt}回目の試みです。",
        "code": "返信コード {code}（オフラインで作成）。",
        "formal": "かしこまりました。",
        "closing": "どうぞよろしくお願いいたします。",
        "more": "続きです：",
    },
    "fr": {
        "said": (
            "Vous avez dit : « {quote} ». "
            "Cette conversation comptait {earlier} messages précédents."
        ),
        "attempt": " Ceci est l'essai {attempt} de cette réponse.",
        "code": "Code de réponse {code}, produit hors ligne.",
        "formal": "Certainement. ",
        "closing": "Je reste à votre disposition.",
        "more": "Pour continuer :",
    },
}

# Words temperature may swap (whole words in Latin scripts, any match in Japanese).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "said": ("wrote", "asked", "typed"),
    "conversation": ("chat", "thread", "discussion"),
    "earlier": ("previous", "prior"),
    "answer": ("reply", "response"),
    "read": ("follow", "see"),
    "easier": ("simpler", "nicer"),
    "saved": ("stored", "kept"),
    "roughly": ("about", "around"),
    "short": ("brief", "compact"),
    "dit": ("écrit", "demandé"),
    "précédents": ("antérieurs", "plus anciens"),
    "réponse": ("répartie", "explication"),
    "会話": ("やりとり", "チャット"),
    "メッセージ": ("発言", "書き込み"),
    "とても": ("すごく", "非常に"),
    "返事": ("回答", "お返事"),
}
_SYNONYM_RE = re.compile(
    "|".join(
        rf"\b{re.escape(word)}\b" if word.isascii() else re.escape(word)
        for word in sorted(SYNONYMS, key=len, reverse=True)
    )
)
PIRATE = {"you": "ye", "your": "yer", "is": "be", "the": "th'", "my": "me", "yes": "aye"}
_PIRATE_RE = re.compile(r"\b(" + "|".join(PIRATE) + r")\b", re.IGNORECASE)


class Voice:
    """Rewords the demo's own text (never the user's words it quotes): synonyms by
    temperature, then the pirate tone."""

    def __init__(self, seed: str, temperature: float | None, tone: str) -> None:
        self.rng = random.Random(f"{seed}:{temperature}")
        # The chance to swap a word: 0 at temperature 0 (or unset), every word at 2.
        self.chance = min(max(temperature or 0.0, 0.0), 2.0) / 2
        self.swapped = 0
        self.tone = tone

    def __call__(self, text: str) -> str:
        if self.chance:
            text = _SYNONYM_RE.sub(self._swap, text)
        if self.tone == "pirate":
            text = _PIRATE_RE.sub(_pirate, text)
        return text

    def _swap(self, match: re.Match[str]) -> str:
        word = match.group(0)
        # The first word always changes: any temperature above 0 shows.
        if self.swapped and self.rng.random() >= self.chance:
            return word
        self.swapped += 1
        return self.rng.choice(SYNONYMS[word])


def _pirate(match: re.Match[str]) -> str:
    word = match.group(0)
    said = PIRATE[word.lower()]
    return said.capitalize() if word[0].isupper() else said
