"""The model provider in one place: which chat model answers, how an answer streams
from it, and what its failures mean to a user.

The model is the callable named by `LLM_FACTORY` when set, else ChatOpenAI when a
model server is configured, else the offline demo model (`demo_model.py`). A model
and its HTTP clients are built at call time (never at import), once per event loop
and configuration, and then shared by every answer on that loop: one connection pool
and one TLS context per process instead of one per answer (building them cost about
33 ms of CPU on the event loop per answer). A client never outlives its event loop;
`close_chat_models()` closes the loop's clients (Daphne calls it on shutdown, tests
after each test).
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import openai
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from openai._base_client import make_request_options

from .contract import ErrorCode
from .demo_model import DEMO_MODEL_NAME, DemoChatModel, DemoModelError


@dataclass
class ChatModelHandle:
    model: BaseChatModel
    name: str
    clients: list[Any] = field(default_factory=list)  # closed with the handle


@dataclass(frozen=True)
class Finish:
    """Why the model stopped, as it said ("stop"; "length": cut off by the token limit)."""

    reason: str


@dataclass(frozen=True)
class Usage:
    """The tokens an answer cost, as the provider reported them."""

    input_tokens: int
    output_tokens: int
    total_tokens: int


def llm_is_configured() -> bool:
    return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


def model_display_name() -> str:
    """The model's name for pages, frames and saved answers.

    With LLM_FACTORY the model names itself, and only an event loop builds it: outside
    one (a sync view) the name is the one a loop's model reported, else the factory's
    path."""
    if not settings.LLM_FACTORY:
        return settings.LLM_MODEL if llm_is_configured() else DEMO_MODEL_NAME
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _names.get(_configuration(), settings.LLM_FACTORY)
    return chat_model().name


# Per event loop, per configuration: the handle every answer on that loop uses.
_handles: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, ChatModelHandle]] = (
    weakref.WeakKeyDictionary()
)
_names: dict[tuple, str] = {}  # per configuration, the name its model reported
_ssl_context: ssl.SSLContext | None = None


def _configuration() -> tuple[Any, ...]:
    return (
        settings.LLM_FACTORY,
        settings.OPENAI_API_KEY,
        settings.OPENAI_BASE_URL,
        settings.LLM_MODEL,
        settings.LLM_TEMPERATURE,
        settings.LLM_MAX_TOKENS,
        settings.LLM_TIMEOUT_SECONDS,
        settings.LLM_MAX_RETRIES,
        settings.LLM_MAX_CONNECTIONS,
        settings.DEMO_TOKEN_DELAY_MS,
    )


def chat_model() -> ChatModelHandle:
    """The model for an answer on the running loop: built on first use, then shared."""
    loop = asyncio.get_running_loop()
    per_loop = _handles.get(loop)
    if per_loop is None:
        per_loop = _handles[loop] = {}
        _close_at_shutdown(loop)
    key = _configuration()
    handle = per_loop.get(key)
    if handle is None:
        handle = per_loop[key] = _build()
        _names[key] = handle.name
    return handle


async def close_chat_models() -> None:
    """Close the HTTP clients of the running loop's models (shutdown, tests)."""
    per_loop = _handles.pop(asyncio.get_running_loop(), {})
    for handle in per_loop.values():
        for client in handle.clients:
            if hasattr(client, "aclose"):
                await client.aclose()
            else:
                client.close()


def _build() -> ChatModelHandle:
    if settings.LLM_FACTORY:
        return _from_factory(settings.LLM_FACTORY)
    if not llm_is_configured():
        return ChatModelHandle(
            DemoChatModel(token_delay=settings.DEMO_TOKEN_DELAY_MS / 1000), DEMO_MODEL_NAME
        )
    global _ssl_context
    if _ssl_context is None:  # one TLS context per process, for every client
        _ssl_context = ssl.create_default_context()
    timeout = openai.Timeout(settings.LLM_TIMEOUT_SECONDS, connect=10.0)
    # Every streaming answer holds a connection: the pool must not queue them.
    limits = httpx2.Limits(
        max_connections=settings.LLM_MAX_CONNECTIONS, max_keepalive_connections=100
    )
    # openai's aiohttp transport: httpx's pure-Python HTTP/1.1 reader (httpcore, h11,
    # an anyio cancel scope per read) cost about 180 µs of CPU per streamed token.
    async_client = openai.DefaultAioHttpClient(timeout=timeout, verify=_ssl_context, limits=limits)
    # Never used for answers, but ChatOpenAI builds a sync client (and a TLS context)
    # of its own when given none.
    sync_client = openai.DefaultHttpxClient(timeout=timeout, verify=_ssl_context)
    model = ChatOpenAI(
        model=settings.LLM_MODEL,
        api_key=settings.OPENAI_API_KEY or "not-needed",
        base_url=settings.OPENAI_BASE_URL or None,
        temperature=settings.LLM_TEMPERATURE,
        max_tokens=settings.LLM_MAX_TOKENS or None,  # 0: the provider's default
        streaming=True,
        # Off by default when base_url is set: usage would silently disappear.
        stream_usage=True,
        timeout=timeout,
        max_retries=settings.LLM_MAX_RETRIES,
        # The read timeout above already bounds a silence mid-stream; LangChain's own
        # chunk timeout wraps every chunk in asyncio.wait_for (a task per token).
        stream_chunk_timeout=None,
        http_async_client=async_client,
        http_client=sync_client,
    )
    model.async_client = DictChunkCompletions(model.root_async_client)
    return ChatModelHandle(model, settings.LLM_MODEL, [async_client, sync_client])


def _from_factory(path: str) -> ChatModelHandle:
    """The model LLM_FACTORY's callable returns, named by its own `model_name` or
    `model`. Its clients stay the factory's: this module does not know them."""
    try:
        factory = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"LLM_FACTORY {path!r} could not be imported: {exc}") from exc
    if not callable(factory):
        raise ImproperlyConfigured(f"LLM_FACTORY {path!r} is not callable.")
    model = factory()
    if not isinstance(model, BaseChatModel):
        raise ImproperlyConfigured(
            f"LLM_FACTORY {path!r} returned a value of type {type(model).__name__!r}, "
            "not a LangChain BaseChatModel."
        )
    names = (getattr(model, "model_name", None), getattr(model, "model", None))
    name = next((n for n in names if isinstance(n, str) and n), path)
    return ChatModelHandle(model, name)


def to_langchain(context: list[tuple[str, str]]) -> list[BaseMessage]:
    """The model's input: the system prompt, then the (role, content) pairs in order."""
    messages: list[BaseMessage] = [SystemMessage(settings.LLM_SYSTEM_PROMPT)]
    for role, content in context:
        messages.append(HumanMessage(content) if role == "user" else AIMessage(content))
    return messages


async def stream_answer(context: list[tuple[str, str]]) -> AsyncIterator[str | Usage | Finish]:
    """The running loop's model answering `context`: its text deltas (never empty),
    its usage whenever the provider reports it (the last report counts), and why it
    stopped when it says so.

    Reads the model's own `_astream` when its class has one, the method streaming
    LangChain chat models implement: `astream` wraps each chunk in callback, metadata
    and merging work (about 80 µs of CPU a token here) for callbacks and tracing the
    answers do not use. Any other model goes through `astream`, which falls back to
    `_stream`, or to one chunk with the whole answer.
    """
    model = chat_model().model
    messages = to_langchain(context)
    direct = type(model)._astream is not BaseChatModel._astream
    chunks = model._astream(messages) if direct else model.astream(messages)
    async for chunk in chunks:
        message = chunk.message if direct else chunk
        info = (chunk.generation_info if direct else None) or message.response_metadata or {}
        if info.get("finish_reason"):
            yield Finish(str(info["finish_reason"]))
        usage = getattr(message, "usage_metadata", None)
        if usage:
            yield Usage(
                input_tokens=int(usage.get("input_tokens") or 0),
                output_tokens=int(usage.get("output_tokens") or 0),
                total_tokens=int(usage.get("total_tokens") or 0),
            )
        text = str(message.text)
        if text:
            yield text


def describe_failure(exc: BaseException, *, mid_answer: bool = False) -> tuple[ErrorCode, str]:
    """Map a model failure to an error code and a sentence a user can read.

    openai maps most transport errors to its own; the rest may come from httpx or
    from httpx2 (the HTTP library of openai 3 and of its aiohttp transport)."""
    broken = (openai.APIConnectionError, httpx.TransportError, httpx2.TransportError)
    timeouts = (
        openai.APITimeoutError,
        TimeoutError,
        httpx.TimeoutException,
        httpx2.TimeoutException,
    )
    if mid_answer and isinstance(exc, broken) and not isinstance(exc, timeouts):
        return ErrorCode.MODEL_ERROR, "The connection to the model broke off mid-answer."
    if isinstance(exc, openai.RateLimitError):
        return (
            ErrorCode.RATE_LIMITED,
            "The model provider is rate limiting requests. Try again shortly.",
        )
    if isinstance(exc, timeouts):
        return ErrorCode.TIMEOUT, "The model took too long to answer."
    if isinstance(exc, (openai.APIConnectionError, httpx.ConnectError, httpx2.ConnectError)):
        return ErrorCode.MODEL_UNAVAILABLE, "The model server could not be reached."
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return ErrorCode.MODEL_ERROR, "The model server refused the configured credentials."
    if isinstance(exc, openai.APIStatusError):
        return (
            ErrorCode.MODEL_ERROR,
            f"The model server answered with an error (HTTP {exc.status_code}).",
        )
    if isinstance(exc, (httpx.HTTPError, httpx2.HTTPError)):
        return ErrorCode.MODEL_ERROR, "The connection to the model broke off mid-answer."
    if isinstance(exc, DemoModelError):
        return ErrorCode.MODEL_ERROR, str(exc)
    return ErrorCode.MODEL_ERROR, "The model failed to answer."


class DictChunkCompletions:
    """`chat.completions` for ChatOpenAI whose streams yield each chunk as a plain dict.

    openai builds a typed `ChatCompletionChunk` for every chunk, and ChatOpenAI turns it
    straight back into a dict (`model_dump()`), which it accepts as well: that round
    trip was about 40 % of a process's event loop with 50 answers streaming. The
    parameters also skip openai's `transform` pass (a third of the CPU of starting a
    request): ChatOpenAI sends plain JSON, and chat-completion parameters have no
    aliases or formats for it to apply. The request itself (auth, retries, errors,
    SSE decoding) is still openai's `post`.
    """

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self._client = client
        self._completions = client.chat.completions

    async def create(self, **params: Any) -> Any:
        if not params.get("stream"):
            return await self._completions.create(**params)
        options = make_request_options(
            extra_headers=params.pop("extra_headers", None),
            extra_query=params.pop("extra_query", None),
            extra_body=params.pop("extra_body", None),
            timeout=params.pop("timeout", openai.NOT_GIVEN),
            security={"bearer_auth": True},
        )
        return await self._client.post(
            "/chat/completions",
            body=params,
            options=options,
            cast_to=object,
            stream=True,
            stream_cls=openai.AsyncStream[object],
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._completions, name)


def _close_at_shutdown(loop: asyncio.AbstractEventLoop) -> None:
    """Under Daphne (Twisted on this asyncio loop), close the clients before it exits."""
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not getattr(reactor, "running", False):
        return
    from twisted.internet.defer import Deferred

    def close() -> Deferred[None]:
        return Deferred.fromFuture(loop.create_task(close_chat_models()))

    reactor.addSystemEventTrigger("before", "shutdown", close)
