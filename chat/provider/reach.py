"""A model server that cannot be reached at all: a refused connection, a name that
does not resolve, a TLS handshake that fails.

openai's aiohttp transport reports every failure to connect as a `ConnectTimeout`
(its map lets aiohttp's `ClientConnectionError` win over the more precise
`ClientConnectorError`), and openai retries it: a wrong model address read as "The
model took too long to answer." after 1.3 s. `ReachingTransport` tells them apart by
the error the connection failed with and raises `ModelUnreachable` instead, an
`OpenAIError`, which openai passes on without retrying: none of the three heals
within the second a retry waits.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
from django.utils.translation import gettext_noop

# What the user reads, saved in English on the answer and translated as it goes out
# (chat/transports/websocket/language.py reads the host and the reason back from it).
UNREACHABLE = gettext_noop("The model server at %(host)s could not be reached: %(reason)s.")
# The reason, per cause.
REASONS = {
    "refused": gettext_noop("it refused the connection"),
    "dns": gettext_noop("its name does not resolve"),
    "tls": gettext_noop("the secure (TLS) connection failed"),
}


class ModelUnreachable(openai.APIConnectionError):
    """No connection to the model server at `host` (host[:port], never the URL's
    credentials): `cause` is "refused", "dns" or "tls", `detail` the system's words."""

    def __init__(self, *, request: httpx2.Request, cause: str, detail: str) -> None:
        self.host = server_name(request.url)
        self.cause = cause
        self.detail = detail
        super().__init__(message=self.sentence(), request=request)

    def sentence(self) -> str:
        """What a user reads."""
        return UNREACHABLE % {"host": self.host, "reason": REASONS[self.cause]}

    def log_line(self) -> str:
        """What the log says: the host, the cause and the system's own words."""
        return f"model server {self.host} unreachable ({self.cause}): {self.detail}"


def server_name(url: httpx2.URL) -> str:
    """`host` or `host:port` of `url`, IPv6 addresses in brackets."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host if url.port is None else f"{host}:{url.port}"


def chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from or while handling, outermost first."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def connect_failure(exc: BaseException) -> tuple[str, str] | None:
    """("refused" | "dns" | "tls", the system's words) when `exc` comes from one of
    them, else None (a timeout, a reset, an HTTP error...)."""
    for link in chain(exc):
        if isinstance(link, ssl.SSLError):  # certificate errors too
            return "tls", str(link)
        if isinstance(link, socket.gaierror):
            return "dns", str(link)
        if isinstance(link, ConnectionRefusedError):
            return "refused", str(link)
    return None


def unreachable(exc: BaseException) -> ModelUnreachable | None:
    """The `ModelUnreachable` behind a failure (LangChain wraps openai's errors), or
    one made from a failure to connect that a client of openai's own reported."""
    request = None
    for link in chain(exc):
        if isinstance(link, ModelUnreachable):
            return link
        if request is None and isinstance(link, openai.APIConnectionError):
            request = link.request
    found = connect_failure(exc)
    if found is None or request is None:
        return None
    return ModelUnreachable(request=request, cause=found[0], detail=found[1])


# Called as each model request is handed to its HTTP connection (never waits): the
# answer's start clock stops there (chat/telemetry/startpath.py, hooked in apps.py).
REQUEST_HOOKS: list[Callable[[], None]] = []


class ReachingTransport(httpx2.AsyncBaseTransport):
    """`inner`, raising `ModelUnreachable` when the connection cannot be made."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        for hook in REQUEST_HOOKS:
            hook()
        try:
            return await self._inner.handle_async_request(request)
        except httpx2.TransportError as exc:
            found = connect_failure(exc)
            if found is None:
                raise
            raise ModelUnreachable(request=request, cause=found[0], detail=found[1]) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


class ModelHttpClient(openai.DefaultAioHttpClient):
    """openai's aiohttp client whose transports (the direct one and any proxy's) tell
    an unreachable server from a slow one."""

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx2.AsyncBaseTransport:
        return ReachingTransport(super()._init_transport(*args, **kwargs))

    def _init_proxy_transport(self, *args: Any, **kwargs: Any) -> httpx2.AsyncBaseTransport:
        return ReachingTransport(super()._init_proxy_transport(*args, **kwargs))
