"""The provider boundary: what a model failure tells the user, and what the model is sent."""

from __future__ import annotations

import httpx
import httpx2
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from chat.contract import ErrorCode
from chat.demo_model import DemoModelError
from chat.llm import describe_failure, to_langchain

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


def test_to_langchain_sends_the_system_prompt_alone_for_an_empty_context(settings) -> None:
    settings.LLM_SYSTEM_PROMPT = "Be brief."
    assert [m.content for m in to_langchain([])] == ["Be brief."]
