"""The provider boundary: which model answers, what it is sent, what its stream and
its failures become."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import openai
import pytest
from django.core.exceptions import ImproperlyConfigured
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from chat.errors import ErrorCode
from chat.provider import llm
from chat.provider.demo import DemoModelError, demo_reply
from chat.provider.llm import (
    USER_INSTRUCTIONS,
    Usage,
    answer_cap,
    chat_model,
    close_chat_models,
    describe_failure,
    model_display_name,
    stream_answer,
    system_prompt,
    to_langchain,
)
from tests.support import custom_model

CANNED = "tests.support.custom_model.make_canned_model"
FAKE = "tests.support.custom_model.make_fake_model"

# openai 3 builds its errors on httpx2 requests and responses.
REQUEST = httpx2.Request("POST", "http://model.invalid/v1/chat/completions")


def status_error(cls: type[openai.APIStatusError], status: int) -> openai.APIStatusError:
    response = httpx2.Response(status, request=REQUEST)
    return cls(f"Error code: {status} - secret body", response=response, body=None)


BROKE_OFF = (ErrorCode.MODEL_ERROR, "The connection to the model broke off mid-answer.")
UNREACHABLE = (ErrorCode.MODEL_UNAVAILABLE, "The model server could not be reached.")
TOO_LONG = (ErrorCode.TIMEOUT, "The model took too long to answer.")


@pytest.mark.parametrize(
    ("exc", "before_first_token", "mid_answer"),
    [
        (
            status_error(openai.RateLimitError, 429),
            (ErrorCode.RATE_LIMITED, "rate limiting"),
            (ErrorCode.RATE_LIMITED, "rate limiting"),
        ),
        (openai.APITimeoutError(request=REQUEST), TOO_LONG, TOO_LONG),
        (openai.APIConnectionError(request=REQUEST), UNREACHABLE, BROKE_OFF),
        (
            status_error(openai.AuthenticationError, 401),
            (ErrorCode.MODEL_ERROR, "refused the configured credentials"),
            (ErrorCode.MODEL_ERROR, "refused the configured credentials"),
        ),
        (
            status_error(openai.APIStatusError, 500),
            (ErrorCode.MODEL_ERROR, "answered with an error (HTTP 500)"),
            (ErrorCode.MODEL_ERROR, "answered with an error (HTTP 500)"),
        ),
        (httpx.ConnectError("[Errno 111] secret host"), UNREACHABLE, BROKE_OFF),
        (httpx2.ConnectError("[Errno 111] secret host"), UNREACHABLE, BROKE_OFF),
        (httpx.ReadError("secret reset by peer"), BROKE_OFF, BROKE_OFF),
        (httpx2.ReadError("secret reset by peer"), BROKE_OFF, BROKE_OFF),
        (httpx.ReadTimeout("secret read timeout"), TOO_LONG, TOO_LONG),
        (httpx2.ReadTimeout("secret read timeout"), TOO_LONG, TOO_LONG),
        (TimeoutError(), TOO_LONG, TOO_LONG),
        (
            DemoModelError("The demo model failed on purpose (/fail)."),
            (ErrorCode.MODEL_ERROR, "The demo model failed on purpose (/fail)."),
            (ErrorCode.MODEL_ERROR, "The demo model failed on purpose (/fail)."),
        ),
        (
            RuntimeError("secret internal state"),
            (ErrorCode.MODEL_ERROR, "The model failed to answer."),
            (ErrorCode.MODEL_ERROR, "The model failed to answer."),
        ),
    ],
    ids=lambda value: (
        f"{type(value).__module__.partition('.')[0]}.{type(value).__qualname__}"
        if isinstance(value, BaseException)
        else value[0].value
    ),
)
def test_describe_failure_gives_a_code_and_a_readable_sentence(
    exc: BaseException,
    before_first_token: tuple[ErrorCode, str],
    mid_answer: tuple[ErrorCode, str],
) -> None:
    """Each failure maps to its code, before the first token and mid-answer, with a
    sentence that never carries the exception's text, repr or a traceback."""
    for is_mid_answer, (code, words) in ((False, before_first_token), (True, mid_answer)):
        got_code, sentence = describe_failure(exc, mid_answer=is_mid_answer)
        assert got_code == code
        assert words in sentence
        assert "secret" not in sentence and repr(exc) not in sentence
        assert "Traceback" not in sentence and "\n" not in sentence
        assert sentence.endswith((".", "!"))


def test_to_langchain_puts_the_system_prompt_first_and_maps_roles(settings) -> None:
    settings.LLM_SYSTEM_PROMPT = "Answer in haiku."
    messages = to_langchain([("user", "Hi"), ("assistant", "Hello."), ("user", "Again")])
    assert [(type(m), m.content) for m in messages] == [
        (SystemMessage, "Answer in haiku."),
        (HumanMessage, "Hi"),
        (AIMessage, "Hello."),
        (HumanMessage, "Again"),
    ]


def test_to_langchain_ends_the_one_system_message_with_a_summary(settings) -> None:
    """A long conversation's summary (issue #25) goes with the system prompt, after the
    instructions: one system message, then the turns."""
    settings.LLM_SYSTEM_PROMPT = "Answer in haiku."
    context = [("summary", "They spoke of gardens."), ("user", "Again")]
    messages = to_langchain(context, "Be kind.")
    system = f"{llm.system_prompt('Be kind.')}\n\n{llm.SUMMARY_INTRO}\nThey spoke of gardens."
    assert [(type(m), m.content) for m in messages] == [
        (SystemMessage, system),
        (HumanMessage, "Again"),
    ]


def test_to_langchain_sends_the_system_prompt_alone_for_an_empty_context(settings) -> None:
    settings.LLM_SYSTEM_PROMPT = "Be brief."
    assert [m.content for m in to_langchain([])] == ["Be brief."]


@pytest.mark.parametrize(
    ("operator", "instructions", "sent"),
    [
        ("Never swear.", "", "Never swear."),
        ("Never swear.", "  ", "Never swear."),
        ("", "Talk like a pirate.", "Talk like a pirate."),
        (
            "Never swear.",
            "Talk like a pirate.",
            f"Never swear.\n\n{USER_INSTRUCTIONS}\n\nTalk like a pirate.",
        ),
    ],
)
def test_a_conversations_instructions_follow_the_operators_prompt(
    settings, operator: str, instructions: str, sent: str
) -> None:
    """The operator's prompt is never replaced: instructions are added after it, in the
    one system message (issue #21: a guardrail dropped per request)."""
    settings.LLM_SYSTEM_PROMPT = operator
    assert system_prompt(instructions) == sent
    (system, question) = to_langchain([("user", "Hi")], instructions)
    assert (type(system), system.content) == (SystemMessage, sent)
    assert isinstance(question, HumanMessage)


@pytest.mark.parametrize(
    ("asked", "server", "spec_cap", "cap"),
    [(None, 2048, None, None), (100, 2048, None, 100), (4000, 2048, None, 2048),
     (4000, 0, None, 4000), (4000, 2048, 512, 512), (300, 2048, 512, 300)],
)  # fmt: skip
def test_the_answer_cap_is_the_smaller_of_the_clients_and_the_servers(
    settings, asked: int | None, server: int, spec_cap: int | None, cap: int | None
) -> None:
    settings.LLM_MAX_TOKENS = server
    settings.LLM_MODELS = json.dumps(
        [{"name": "m", "base_url": "http://x", "max_tokens": spec_cap}]
    )
    assert answer_cap("m", asked) == cap


@pytest.fixture
async def models(settings) -> AsyncIterator[None]:
    """The test's loop builds its own models, closed after it."""
    settings.DEMO_TOKEN_DELAY_MS = 0
    yield
    await close_chat_models()


async def answer(context: list[tuple[str, str]]) -> list[str | Usage]:
    return [item async for item in stream_answer(context)]


async def test_stream_answer_reads_the_demo_models_own_astream(models) -> None:
    """The built-in model: deltas that join to its reply, then its usage."""
    items = await answer([("user", "Hi there")])
    *deltas, usage = items
    assert all(isinstance(d, str) and d for d in deltas) and len(deltas) > 10
    assert "".join(deltas) == demo_reply(to_langchain([("user", "Hi there")]))
    assert isinstance(usage, Usage) and usage.total_tokens == usage.input_tokens + len(deltas)


async def test_stream_answer_gives_the_demo_model_the_attempt_and_temperature(models) -> None:
    """A regenerate (a later attempt) and a temperature reach the demo model, which
    words its answer by them; the Japanese demo answers in Japanese."""
    context = [("user", "Hi there")]
    messages = to_langchain(context)

    async def joined(**kwargs: Any) -> str:
        items = [item async for item in stream_answer(context, **kwargs)]
        return "".join(item for item in items if isinstance(item, str))

    first, again = await joined(), await joined(attempt=1)
    assert again == demo_reply(messages, attempt=1) != first
    assert await joined(temperature=1.5) == demo_reply(messages, temperature=1.5) != first
    japanese = await joined(model_key="demo-ja")
    assert japanese == demo_reply(messages, language="ja") and "とのことですね" in japanese


async def test_stream_answer_takes_a_generate_only_model_in_one_piece(settings, models) -> None:
    settings.LLM_FACTORY = CANNED
    assert await answer([("user", "Why?")]) == [
        Usage(input_tokens=7, output_tokens=3, total_tokens=10),
        custom_model.canned_answer("Why?"),
    ]


async def test_stream_answer_streams_a_model_that_only_has_a_sync_stream(settings, models) -> None:
    settings.LLM_FACTORY = FAKE
    deltas = await answer([("user", "Hello?")])
    assert len(deltas) > 5 and all(isinstance(d, str) and d for d in deltas)
    assert "".join(deltas) == custom_model.FAKE_ANSWER  # no usage reported, none made up


async def test_a_factory_is_called_once_per_event_loop(settings, models, monkeypatch) -> None:
    calls = []

    def counting_factory():
        calls.append(1)
        return custom_model.CannedChatModel()

    monkeypatch.setattr(custom_model, "make_canned_model", counting_factory)
    settings.LLM_FACTORY = CANNED
    first = chat_model()
    await answer([("user", "One")])
    await answer([("user", "Two")])
    assert chat_model() is first and model_display_name() == "canned-model"
    assert len(calls) == 1


async def test_a_factorys_model_is_named_by_its_model_name_else_the_path(settings, models) -> None:
    settings.LLM_FACTORY = CANNED
    assert model_display_name() == "canned-model"
    # Outside an event loop (a sync view) it is the name a loop's model reported.
    assert await asyncio.to_thread(model_display_name) == "canned-model"
    settings.LLM_FACTORY = FAKE
    assert model_display_name() == FAKE


def test_a_sync_caller_gets_the_factorys_path_before_any_loop_built_it(
    settings, monkeypatch
) -> None:
    monkeypatch.setattr(llm, "_names", {})
    settings.LLM_FACTORY = CANNED
    assert model_display_name() == CANNED


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("no_such_module.make_model", "could not be imported"),
        ("tests.support.custom_model.no_such_factory", "could not be imported"),
        ("make_model", "could not be imported"),
        ("math.pi", "is not callable"),
        ("builtins.object", "returned a value of type 'object', not a LangChain BaseChatModel"),
        ("tests.support.custom_model.FAKE_ANSWER", "is not callable"),
    ],
)
async def test_a_bad_factory_is_improperly_configured_at_first_use(
    settings, models, path: str, words: str
) -> None:
    settings.LLM_FACTORY = path
    with pytest.raises(ImproperlyConfigured) as caught:
        chat_model()
    assert repr(path) in str(caught.value) and words in str(caught.value)
