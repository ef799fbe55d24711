"""The model provider in one place: which chat model answers, how an answer streams
from it, and what its failures mean to a user.

The model is the callable named by `LLM_FACTORY` when set, else ChatOpenAI when a
model server is configured, else the offline demo models (`demo.py`). A model
and its HTTP clients are built at call time (never at import), once per event loop
and configuration, and then shared by every answer on that loop: one connection pool
and one TLS context per process instead of one per answer (building them cost about
33 ms of CPU on the event loop per answer). A client never outlives its event loop;
`close_chat_models()` closes the loop's clients (Daphne calls it on shutdown, tests
after each test).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypedDict, TypeVar

import httpx
import httpx2
import openai
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext_noop
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_openai import ChatOpenAI
from openai._base_client import make_request_options
from pydantic import SecretStr

from chat.errors import ErrorCode
from chat.provider.demo import (
    DEMO_JA_MODEL_NAME,
    DEMO_MODEL_NAME,
    DemoChatModel,
    DemoModelError,
)
from chat.provider.reach import ModelHttpClient, unreachable
from chat.provider.stops import StopCutter


@dataclass
class ChatModelHandle:
    model: BaseChatModel
    name: str
    # Closed with the handle.
    clients: list[httpx2.AsyncClient | httpx2.Client] = field(default_factory=list)


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


@dataclass(frozen=True)
class ModelSpec:
    """One model users may choose: `key` names it in conversations and saved answers;
    `model` is the name its server knows it by."""

    key: str
    label: str
    kind: str = "openai"  # "openai" (any OpenAI-compatible server), "demo", "factory"
    model: str = ""  # for "demo": the language it answers in ("": English and Japanese)
    base_url: str = ""
    api_key: str = ""
    temperature: float | None = None  # None: LLM_TEMPERATURE
    max_tokens: int | None = None  # None: LLM_MAX_TOKENS
    images: bool = False  # it reads images (OpenAI's image_url content parts)


class UnknownModel(ValueError):
    """A model key that is not configured."""


def parse_models(raw: str, environ: Mapping[str, str]) -> list[ModelSpec]:
    """LLM_MODELS: a JSON list of {"name", "base_url", "api_key_env" or "api_key",
    optional "id", "label", "temperature", "max_tokens", "images" (true: it reads
    images; default false)}; ImproperlyConfigured with
    the reason when it is not. `environ` gives the keys named by "api_key_env"."""
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"LLM_MODELS is not valid JSON: {exc}") from None
    if not isinstance(entries, list) or not entries:
        raise ImproperlyConfigured("LLM_MODELS must be a non-empty JSON list of models.")
    specs: list[ModelSpec] = []
    for n, entry in enumerate(entries, 1):
        where = f"LLM_MODELS entry {n}"
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not entry["name"]
        ):
            raise ImproperlyConfigured(f'{where} needs a "name" (the model\'s name on its server).')
        unknown = set(entry) - MODEL_FIELDS
        if unknown:
            raise ImproperlyConfigured(f"{where} has unknown fields: {', '.join(sorted(unknown))}.")
        key = str(entry.get("id") or entry["name"])[:100]
        api_key = str(entry.get("api_key") or "")
        if entry.get("api_key_env"):
            api_key = environ.get(str(entry["api_key_env"]), "")
            if not api_key:
                raise ImproperlyConfigured(f"{where}: ${entry['api_key_env']} is not set.")
        temperature = _number(entry, "temperature", float, where)
        max_tokens = _number(entry, "max_tokens", int, where)
        images = entry.get("images", False)
        if not isinstance(images, bool):
            raise ImproperlyConfigured(f"{where}: images must be true or false.")
        specs.append(
            ModelSpec(
                key=key,
                label=str(entry.get("label") or key)[:100],
                model=entry["name"],
                base_url=str(entry.get("base_url") or ""),
                api_key=api_key,
                temperature=temperature,
                max_tokens=max_tokens,
                images=images,
            )
        )
    keys = [spec.key for spec in specs]
    if len(set(keys)) != len(keys):
        raise ImproperlyConfigured('LLM_MODELS names (or "id"s) must be unique.')
    return specs


Number = TypeVar("Number", int, float)


def _number(entry: dict[str, object], name: str, kind: type[Number], where: str) -> Number | None:
    """The entry's field `name` as `kind`, or None when absent; ImproperlyConfigured
    when it is not a number."""
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ImproperlyConfigured(f"{where}: {name} must be a number.")
    return kind(value)


MODEL_FIELDS = {
    "id",
    "name",
    "label",
    "base_url",
    "api_key",
    "api_key_env",
    "temperature",
    "max_tokens",
    "images",
}
# The demo models take images (they name the files they are sent: the offline demo
# shows attachments working).
DEMO = ModelSpec(key=DEMO_MODEL_NAME, label="Demo (offline)", kind="demo", images=True)
# Offered beside DEMO when no other model is configured, so switching models shows.
DEMO_JA = ModelSpec(
    key=DEMO_JA_MODEL_NAME, label="Demo, Japanese (offline)", kind="demo", model="ja", images=True
)


def model_specs() -> list[ModelSpec]:
    """The models users may choose, the default first: LLM_FACTORY's, else those of
    LLM_MODELS, else the one of OPENAI_BASE_URL/LLM_MODEL; then the offline demo model
    (unless LLM_OFFER_DEMO is off while another model is configured). Without any
    other model, both offline demo models."""
    raw = settings.LLM_MODELS
    source = (
        raw,
        settings.LLM_FACTORY,
        settings.OPENAI_BASE_URL,
        settings.OPENAI_API_KEY,
        settings.LLM_MODEL,
        settings.LLM_OFFER_DEMO,
    )
    cached = _specs.get(source)
    if cached is None:
        if settings.LLM_FACTORY:
            specs = [
                ModelSpec(key=settings.LLM_FACTORY, label=settings.LLM_FACTORY, kind="factory")
            ]
        elif raw:
            specs = parse_models(raw, os.environ)
        elif llm_is_configured():
            specs = [
                ModelSpec(
                    key=settings.LLM_MODEL,
                    label=settings.LLM_MODEL,
                    model=settings.LLM_MODEL,
                    base_url=settings.OPENAI_BASE_URL,
                    api_key=settings.OPENAI_API_KEY,
                )
            ]
        else:
            specs = []
        if not specs:
            specs = [DEMO, DEMO_JA]
        elif settings.LLM_OFFER_DEMO:
            specs.append(DEMO)
        cached = _specs[source] = specs
    return cached


# What a model is built from: its spec and the settings it reads.
Configuration: TypeAlias = tuple[object, ...]
_specs: dict[Configuration, list[ModelSpec]] = {}  # per configuration (tests change it)


def resolve_model(key: str | None) -> ModelSpec:
    """The model named `key`; the default for None or ""; UnknownModel otherwise."""
    specs = model_specs()
    if not key:
        return specs[0]
    for spec in specs:
        if spec.key == key:
            return spec
    raise UnknownModel(key)


def resolve_model_or_default(key: str | None) -> ModelSpec:
    """`resolve_model`, with a model no longer configured falling back to the default."""
    try:
        return resolve_model(key)
    except UnknownModel:
        return model_specs()[0]


class ModelChoice(TypedDict):
    """A model as pages and the API offer it."""

    key: str
    label: str
    images: bool  # it reads images: the chat page lets images be attached for it


def model_choices() -> list[ModelChoice]:
    """The models for pages and the API: key, label and whether it reads images, the
    default first."""
    return [{"key": s.key, "label": s.label, "images": s.images} for s in model_specs()]


def model_display_name(key: str | None = None) -> str:
    """The model's name for pages, frames and saved answers: its key.

    With LLM_FACTORY the model names itself, and only an event loop builds it: outside
    one (a sync view) the name is the one a loop's model reported, else the factory's
    path."""
    spec = resolve_model_or_default(key)
    if spec.kind != "factory":
        return spec.key
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _names.get(_configuration(spec), settings.LLM_FACTORY)
    return chat_model(spec.key).name


# Per event loop, per configuration: the handle every answer on that loop uses.
_handles: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[Configuration, ChatModelHandle]
] = weakref.WeakKeyDictionary()
_names: dict[Configuration, str] = {}  # per configuration, the name its model reported
_ssl_context: ssl.SSLContext | None = None


def _configuration(spec: ModelSpec) -> Configuration:
    return (
        spec,
        settings.LLM_FACTORY,
        settings.LLM_TEMPERATURE,
        settings.LLM_MAX_TOKENS,
        settings.LLM_TIMEOUT_SECONDS,
        settings.LLM_MAX_RETRIES,
        settings.LLM_MAX_CONNECTIONS,
        settings.DEMO_TOKEN_DELAY_MS,
    )


def chat_model(model_key: str | None = None) -> ChatModelHandle:
    """The model `model_key` (None: the default; one no longer configured: the default)
    for an answer on the running loop: built on first use, then shared."""
    loop = asyncio.get_running_loop()
    per_loop = _handles.get(loop)
    if per_loop is None:
        per_loop = _handles[loop] = {}
        _close_at_shutdown(loop)
    spec = resolve_model_or_default(model_key)
    key = _configuration(spec)
    handle = per_loop.get(key)
    if handle is None:
        handle = per_loop[key] = _build(spec)
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


def _build(spec: ModelSpec) -> ChatModelHandle:
    if spec.kind == "factory":
        return _from_factory(settings.LLM_FACTORY)
    if spec.kind == "demo":
        delay = settings.DEMO_TOKEN_DELAY_MS / 1000
        return ChatModelHandle(DemoChatModel(token_delay=delay, language=spec.model), spec.key)
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
    # ModelHttpClient: an unreachable server is not reported as a slow one (reach.py).
    async_client = ModelHttpClient(timeout=timeout, verify=_ssl_context, limits=limits)
    # Never used for answers, but ChatOpenAI builds a sync client (and a TLS context)
    # of its own when given none.
    sync_client = openai.DefaultHttpxClient(timeout=timeout, verify=_ssl_context)
    temperature = spec.temperature if spec.temperature is not None else settings.LLM_TEMPERATURE
    max_tokens = spec.max_tokens if spec.max_tokens is not None else settings.LLM_MAX_TOKENS
    model = ChatOpenAI(
        model=spec.model,
        api_key=SecretStr(spec.api_key or "not-needed"),
        base_url=spec.base_url or None,
        temperature=temperature,
        max_completion_tokens=max_tokens or None,  # 0: the provider's default
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
    return ChatModelHandle(model, spec.key, [async_client, sync_client])


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


USER_INSTRUCTIONS = (
    "The user gave the instructions below for this conversation. Follow them where they "
    "do not conflict with the instructions above, which always take precedence."
)


def system_prompt(instructions: str = "") -> str:
    """What the model is told before the conversation: the operator's LLM_SYSTEM_PROMPT,
    always and first, then the conversation's (or an API client's) instructions, marked
    as the user's. A user's instructions add to an operator's guardrail, never replace
    it. One system message, not two: several chat templates of open models (served by
    vLLM, llama.cpp, Ollama) refuse a second system message or ignore it."""
    operator, user = settings.LLM_SYSTEM_PROMPT.strip(), instructions.strip()
    if not user:
        return settings.LLM_SYSTEM_PROMPT
    if not operator:
        return user
    return f"{operator}\n\n{USER_INSTRUCTIONS}\n\n{user}"


SUMMARY_INTRO = "Summary of the earlier conversation:"


# An OpenAI content part: {"type": "text", "text": ...} or {"type": "image_url",
# "image_url": {"url": "data:<mime>;base64,..."}}.
Part: TypeAlias = dict[str, Any]


def to_langchain(
    context: list[tuple[str, str]], instructions: str = "", parts: list[Part] | None = None
) -> list[BaseMessage]:
    """The model's input: the system prompt (the operator's, then the conversation's
    instructions), then the (role, content) pairs in order. A leading `summary` pair
    (a long conversation's earlier part, issue #25) ends the system prompt: one system
    message, as `system_prompt` says why. `parts`: the files attached to the last
    question (chat/conversations/attachments.py), sent after its text as content
    parts of the same message."""
    system = system_prompt(instructions)
    if context and context[0][0] == "summary":
        system = f"{system}\n\n{SUMMARY_INTRO}\n{context[0][1]}" if system else context[0][1]
        context = context[1:]
    messages: list[BaseMessage] = [SystemMessage(system)]
    for role, content in context:
        messages.append(HumanMessage(content) if role == "user" else AIMessage(content))
    if parts and isinstance(messages[-1], HumanMessage):
        question = messages[-1].text
        messages[-1] = HumanMessage([{"type": "text", "text": question}, *parts])
    return messages


def takes_images(model_key: str | None) -> bool:
    """Does the model (one no longer configured: the default) read images?"""
    return resolve_model_or_default(model_key).images


class ModelOptions(TypedDict, total=False):
    """What an answer may set of the model's own settings."""

    temperature: float
    max_tokens: int  # ChatOpenAI sends it as `max_completion_tokens`
    stop: list[str]
    attempt: int  # the demo model's: which try at this answer (a regenerate's is not 0)


@dataclass(frozen=True)
class AnswerLimits:
    """What an API client asked of one answer: a cap on its tokens (the smaller of it
    and the server's is sent) and up to 4 stop sequences."""

    max_tokens: int | None = None
    stop: tuple[str, ...] = ()


NO_LIMITS = AnswerLimits()


def answer_cap(model_key: str | None, asked: int | None) -> int | None:
    """The token cap of an answer whose client asked for `asked` (None: the server's
    own, already the model's): the smaller of the two; the client's alone when the
    server sets none (LLM_MAX_TOKENS=0)."""
    if asked is None:
        return None
    spec = resolve_model_or_default(model_key)
    server = spec.max_tokens if spec.max_tokens is not None else settings.LLM_MAX_TOKENS
    return min(asked, server) if server > 0 else asked


def _options(
    model: BaseChatModel,
    model_key: str | None,
    temperature: float | None,
    limits: AnswerLimits,
    attempt: int = 0,
) -> ModelOptions:
    """The per-answer settings `model` is given: all of them for the OpenAI-compatible
    models, the temperature and the attempt for the demo model, only the stop
    sequences (LangChain's own argument) for the others."""
    options: ModelOptions = {}
    if isinstance(model, DemoChatModel):
        options["attempt"] = attempt
        if temperature is not None:
            options["temperature"] = temperature
    if isinstance(model, ChatOpenAI):
        if temperature is not None:
            options["temperature"] = temperature
        if (cap := answer_cap(model_key, limits.max_tokens)) is not None:
            options["max_tokens"] = cap
    if limits.stop:
        options["stop"] = list(limits.stop)
    return options


async def stream_answer(
    context: list[tuple[str, str]],
    *,
    model_key: str | None = None,
    instructions: str = "",
    temperature: float | None = None,
    limits: AnswerLimits = NO_LIMITS,
    attempt: int = 0,
    parts: list[Part] | None = None,
) -> AsyncGenerator[str | Usage | Finish, None]:
    """The running loop's model answering `context`: its text deltas (never empty),
    its usage whenever the provider reports it (the last report counts), and why it
    stopped when it says so. The text ends before the first of `limits.stop`, whether
    the model honoured it or not (stops.py). `attempt`: which try at this answer it is
    (only the demo model reads it). `parts`: the files attached to the question.

    Reads the model's own `_astream` when its class has one, the method streaming
    LangChain chat models implement: `astream` wraps each chunk in callback, metadata
    and merging work (about 80 µs of CPU a token here) for callbacks and tracing the
    answers do not use. Any other model goes through `astream`, which falls back to
    `_stream`, or to one chunk with the whole answer.
    """
    model = chat_model(model_key).model
    messages = to_langchain(context, instructions, parts)
    options = _options(model, model_key, temperature, limits, attempt)
    direct = type(model)._astream is not BaseChatModel._astream
    chunks = model._astream(messages, **options) if direct else model.astream(messages, **options)
    cutter = StopCutter(limits.stop) if limits.stop else None
    async for chunk in chunks:
        text, finish, usage = _parts(chunk)
        if cutter is not None:
            text = cutter.feed(text) + (cutter.flush() if finish and not cutter.stopped else "")
            if cutter.stopped:  # the model went on past a stop sequence: end it here
                if text:
                    yield text
                await _close(chunks)
                yield Finish("stop")
                return
        if finish is not None:
            yield finish
        if usage is not None:
            yield usage
        if text:
            yield text
    if cutter is not None and (rest := cutter.flush()):
        yield rest


def _parts(chunk: ChatGenerationChunk | BaseMessage) -> tuple[str, Finish | None, Usage | None]:
    """A streamed chunk's text, why the model stopped and its usage, when it says."""
    if isinstance(chunk, ChatGenerationChunk):  # `_astream`'s: the message and its info
        message: BaseMessage = chunk.message
        info = chunk.generation_info or message.response_metadata or {}
    else:  # `astream`'s: the message itself
        message = chunk
        info = message.response_metadata or {}
    finish = Finish(str(info["finish_reason"])) if info.get("finish_reason") else None
    usage = None
    if tokens := getattr(message, "usage_metadata", None):
        usage = Usage(
            input_tokens=int(tokens.get("input_tokens") or 0),
            output_tokens=int(tokens.get("output_tokens") or 0),
            total_tokens=int(tokens.get("total_tokens") or 0),
        )
    return str(message.text), finish, usage


async def _close(chunks: AsyncIterator[Any]) -> None:
    """Close the model's stream (and its HTTP response) now, not when it is collected."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


# Saved in English on the answer, translated as they go out (the HTTP status read back
# from the sentence: chat/transports/websocket/language.py).
BROKE_OFF = gettext_noop("The connection to the model broke off mid-answer.")
HTTP_ERROR = gettext_noop("The model server answered with an error (HTTP %(status)s).")


def describe_failure(exc: BaseException, *, mid_answer: bool = False) -> tuple[ErrorCode, str]:
    """Map a model failure to an error code and a sentence a user can read.

    openai maps most transport errors to its own; the rest may come from httpx or
    from httpx2 (the HTTP library of openai 3 and of its aiohttp transport). A server
    that refuses the connection, whose name does not resolve or whose TLS fails is
    unreachable (reach.py), named by its host."""
    if (server := unreachable(exc)) is not None:
        return ErrorCode.MODEL_UNREACHABLE, server.sentence()
    broken = (openai.APIConnectionError, httpx.TransportError, httpx2.TransportError)
    timeouts = (
        openai.APITimeoutError,
        TimeoutError,
        httpx.TimeoutException,
        httpx2.TimeoutException,
    )
    if mid_answer and isinstance(exc, broken) and not isinstance(exc, timeouts):
        return ErrorCode.MODEL_ERROR, BROKE_OFF
    if isinstance(exc, openai.RateLimitError):
        return (
            ErrorCode.RATE_LIMITED,
            gettext_noop("The model provider is rate limiting requests. Try again shortly."),
        )
    if isinstance(exc, timeouts):
        return ErrorCode.TIMEOUT, gettext_noop("The model took too long to answer.")
    if isinstance(exc, (openai.APIConnectionError, httpx.ConnectError, httpx2.ConnectError)):
        return ErrorCode.MODEL_UNAVAILABLE, gettext_noop("The model server could not be reached.")
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return ErrorCode.MODEL_ERROR, gettext_noop(
            "The model server refused the configured credentials."
        )
    if isinstance(exc, openai.APIStatusError):
        return (
            ErrorCode.MODEL_ERROR,
            HTTP_ERROR % {"status": exc.status_code},
        )
    if isinstance(exc, (httpx.HTTPError, httpx2.HTTPError)):
        return ErrorCode.MODEL_ERROR, BROKE_OFF
    if isinstance(exc, DemoModelError):
        return ErrorCode.MODEL_ERROR, str(exc)
    return ErrorCode.MODEL_ERROR, gettext_noop("The model failed to answer.")


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

    async def create(self, **params: Any) -> object:
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

    def __getattr__(self, name: str) -> object:
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
