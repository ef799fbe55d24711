"""The offline demo model: a deterministic reply streamed at a fixed pace.

It runs when no model server is configured, so the chat works (and its tests run)
without a network or an API key. The reply mixes English and Japanese sentences,
lines and clauses so every chunking mode has something to split; `/echo <text>`
answers with the text and `/fail` fails mid-answer to show the error path.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Iterator, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

DEMO_MODEL_NAME = "demo-offline"


class DemoModelError(RuntimeError):
    """Raised by the demo model on a `/fail` prompt, to show the error path offline."""


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

_TOKEN_RE = re.compile(r"\s*[A-Za-z0-9']+|\s*[^\sA-Za-z0-9']|\s+")


def demo_tokens(text: str) -> list[str]:
    """Split text into token-like pieces: words with their leading space, or one character."""
    return _TOKEN_RE.findall(text)


def demo_reply(messages: Sequence[BaseMessage]) -> str:
    """A deterministic reply that depends on the last user message and the history size."""
    prompt = next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), "")
    if prompt.startswith("/echo "):
        return prompt[len("/echo ") :]
    digest = hashlib.sha256(prompt.encode()).digest()
    first_line = " ".join(prompt.split())[:80]
    earlier = sum(1 for m in messages if isinstance(m, (HumanMessage, AIMessage))) - 1
    english = [ENGLISH[(digest[i] + i) % len(ENGLISH)] for i in range(2)]
    japanese = [JAPANESE[(digest[4 + i] + i) % len(JAPANESE)] for i in range(2)]
    lines = [
        f'You said: "{first_line}". This conversation had {earlier} earlier messages.',
        f"{english[0]} {japanese[0]}",
        f"{japanese[1]}{english[1]}",
        f"Reply code {digest[:3].hex()}, made offline.",
    ]
    return "\n".join(lines)


class DemoChatModel(BaseChatModel):
    """Streams `demo_reply` token by token at a fixed pace, with usage at the end."""

    token_delay: float = 0.035

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
        return ChatResult(generations=[ChatGeneration(message=AIMessage(demo_reply(messages)))])

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
        tokens = demo_tokens(demo_reply(messages))
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
