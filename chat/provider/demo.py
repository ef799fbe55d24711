"""The offline demo model: a deterministic reply streamed at a fixed pace.

It runs when no model server is configured, so the chat works (and its tests run)
without a network or an API key. The reply mixes English and Japanese sentences,
lines and clauses so every chunking mode has something to split; `/echo <text>`
answers with the text, `/math` with inline and display math (rendered by KaTeX in
the page) and `/fail` fails mid-answer to show the error path.

It shows what the product does: a regenerated answer (a later `attempt`) differs,
the instructions change its language, length and tone and temperature its wording
(demo_words.py), and a continue goes on from where the answer stopped. `demo-ja`
answers in Japanese unless told otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TypedDict

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from chat.provider.demo_files import describe_files, split_question
from chat.provider.demo_words import (
    ENGLISH,
    FRAMES,
    JAPANESE,
    SENTENCES,
    Style,
    Voice,
    style_of,
)
from chat.provider.prompts import CONTINUE_PROMPT

DEMO_MODEL_NAME = "demo-offline"
DEMO_JA_MODEL_NAME = "demo-ja"

# The answer to `/math`: math to see rendered offline (inline, display, and money that stays text).
MATH_REPLY = (
    "Euler's identity, $e^{i\\pi} + 1 = 0$, links five constants. "
    "The area under $x^2$ from 0 to 1:\n"
    "\n"
    "$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$\n"
    "\n"
    "And a price stays a price: $5 and $10."
)


class DemoModelError(RuntimeError):
    """Raised by the demo model on a `/fail` prompt, to show the error path offline."""


_WORD = r"A-Za-z0-9'\u00C0-\u00FF"  # French words stay whole
_TOKEN_RE = re.compile(rf"\s*[{_WORD}]+|\s*[^\s{_WORD}]|\s+")


def demo_tokens(text: str) -> list[str]:
    """Split text into token-like pieces: words with their leading space, or one character."""
    return _TOKEN_RE.findall(text)


def demo_reply(
    messages: Sequence[BaseMessage],
    *,
    attempt: int = 0,
    temperature: float | None = None,
    language: str = "",
) -> str:
    """The demo's answer to `messages`: the same for the same input, another for another
    `attempt` (a regenerate), in the style the system prompt's instructions ask for
    (`language` when they name none), worded by `temperature`; a continue goes on from
    the answer it is shown."""
    system = " ".join(m.text for m in messages if isinstance(m, SystemMessage))
    style = style_of(system, language)
    if _is_continue(messages):
        return _continuation(messages, style, attempt=attempt, temperature=temperature)
    last = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    prompt, files = split_question(last.content) if last is not None else ("", [])
    if prompt.startswith("/echo "):
        return prompt[len("/echo ") :]
    if prompt.strip() == "/math":
        return MATH_REPLY
    earlier = sum(1 for m in messages if isinstance(m, (HumanMessage, AIMessage))) - 1
    # Attempt 0 keeps the digest (and so the reply) the demo always gave.
    salt = f"\0{attempt}".encode() if attempt else b""
    digest = hashlib.sha256(prompt.encode() + salt).digest()
    voice = Voice(digest.hex(), temperature, style.tone)
    frame = FRAMES[style.language or "en"]
    quote = " ".join(prompt.split())[:80]
    before, after = frame["said"].format(earlier=earlier, quote="\0").split("\0")
    header = voice(before) + quote + voice(after)
    if attempt:
        header += voice(frame["attempt"].format(attempt=attempt + 1))
    if style.tone == "formal":
        header = frame["formal"] + header
    elif style.tone == "pirate" and style.language in ("", "en"):
        header = "Arr! " + header
    seen = describe_files(files, style.language)  # what it can tell of the files sent
    lines = [header, *([seen] if seen else []), *map(voice, _body(digest, style))]
    if style.tone == "formal":
        lines.append(frame["closing"])
    if style.length != "short":
        lines.append(voice(frame["code"].format(code=digest[:3].hex())))
    return "\n".join(lines)


def _body(digest: bytes, style: Style) -> list[str]:
    """The reply's sentences: two lines of them; one when short, four when long."""
    count = {"short": 1, "normal": 2, "long": 4}[style.length]
    if style.language:
        return _pick(SENTENCES[style.language], digest, 0, count)
    english, japanese = _pick(ENGLISH, digest, 0, count), _pick(JAPANESE, digest, 8, count)
    return [
        f"{en} {ja}" if i % 2 == 0 else f"{ja}{en}"
        for i, (en, ja) in enumerate(zip(english, japanese, strict=True))
    ]


def _pick(table: list[str], digest: bytes, offset: int, count: int) -> list[str]:
    """`count` different sentences of `table`, chosen by the digest's bytes from `offset`."""
    free, chosen = list(table), []
    for i in range(count):
        chosen.append(free.pop((digest[offset + i] + i) % len(free)))
    return chosen


def _is_continue(messages: Sequence[BaseMessage]) -> bool:
    """A continue: the server asks to go on from the assistant text just before it."""
    return (
        len(messages) >= 2
        and isinstance(messages[-1], HumanMessage)
        and messages[-1].text == CONTINUE_PROMPT
        and isinstance(messages[-2], AIMessage)
    )


def _continuation(
    messages: Sequence[BaseMessage], style: Style, *, attempt: int, temperature: float | None
) -> str:
    """What follows the answer being continued: the rest of the demo's own reply it
    was cut from (a continued answer is a later try, so the earlier tries are
    searched), else a new paragraph; never the continue prompt itself."""
    tail, asked = messages[-2].text, list(messages[:-2])
    for earlier_try in range(min(attempt, 50) + 1):
        full = demo_reply(
            asked, attempt=earlier_try, temperature=temperature, language=style.language
        )
        at = full.find(tail) if tail else -1
        if at >= 0 and full[at + len(tail) :]:
            return full[at + len(tail) :]
    digest = hashlib.sha256(f"{tail}\0{attempt}".encode()).digest()
    frame = FRAMES[style.language or "en"]
    more = " ".join(_body(digest, Style(style.language, "normal", style.tone)))
    voice = Voice(digest.hex(), temperature, style.tone)
    return _joint(tail) + voice(f"{frame['more']} {more}")


def _joint(tail: str) -> str:
    """What goes between an answer's end and its continuation: nothing after a space or
    Japanese text, a new paragraph after a full sentence, else a space."""
    if not tail or tail[-1].isspace():
        return ""
    if unicodedata.east_asian_width(tail[-1]) in ("W", "F"):
        return ""
    if tail[-1] in '.!?:;)"»':
        return "\n\n"
    return " "


class _Wording(TypedDict):
    attempt: int
    temperature: float | None
    language: str


class DemoChatModel(BaseChatModel):
    """Streams `demo_reply` token by token at a fixed pace, with usage at the end.

    `language`: the one it answers in unless the instructions name another ("" mixes
    English and Japanese). An answer may pass `attempt` (which try at this answer it
    is, 0 the first) and `temperature`."""

    token_delay: float = 0.035
    language: str = ""

    @property
    def _llm_type(self) -> str:
        return "demo-offline"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: object,
    ) -> ChatResult:
        reply = demo_reply(messages, **self._wording(kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])

    def _wording(self, kwargs: dict[str, object]) -> _Wording:
        """demo_reply's arguments from the model's and the answer's settings."""
        attempt, temperature = kwargs.get("attempt"), kwargs.get("temperature")
        return {
            "attempt": attempt if isinstance(attempt, int) else 0,
            "temperature": float(temperature) if isinstance(temperature, (int, float)) else None,
            "language": self.language,
        }

    def _stream(self, *args: object, **kwargs: object) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError("the demo model streams asynchronously only")

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: object,
    ) -> AsyncIterator[ChatGenerationChunk]:
        prompt_text = "".join(m.text for m in messages)
        fail = any(
            isinstance(m, HumanMessage) and m.text.startswith("/fail") for m in messages[-1:]
        )
        tokens = demo_tokens(demo_reply(messages, **self._wording(kwargs)))
        for index, token in enumerate(tokens):
            if fail and index == 5:
                raise DemoModelError("The demo model failed on purpose (/fail).")
            await asyncio.sleep(self.token_delay)
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))
        input_tokens = len(prompt_text) // 4 + 1
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={
                    "input_tokens": input_tokens,
                    "output_tokens": len(tokens),
                    "total_tokens": input_tokens + len(tokens),
                },
            )
        )
