"""Factories for LLM_FACTORY, as a project would write them: LangChain chat models
that are neither ChatOpenAI nor the demo model, and stream without an `_astream`."""

from __future__ import annotations

from itertools import cycle
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

FAKE_ANSWER = "Hello from a fake model, word by word.\nそれでは。"
CANNED_USAGE = {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}


class CannedChatModel(BaseChatModel):
    """Implements `_generate` only: it cannot stream, so an answer comes in one piece."""

    model_name: str = "canned-model"

    @property
    def _llm_type(self) -> str:
        return "canned"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        answer = canned_answer(messages[-1].text)
        message = AIMessage(answer, usage_metadata=CANNED_USAGE)
        return ChatResult(generations=[ChatGeneration(message=message)])


def canned_answer(prompt: str) -> str:
    return f"Canned answer to: {prompt}"


def make_canned_model() -> CannedChatModel:
    return CannedChatModel()


def make_fake_model() -> GenericFakeChatModel:
    """langchain_core's fake model: it streams from `_stream` and has no model name."""
    return GenericFakeChatModel(messages=cycle([FAKE_ANSWER]))
