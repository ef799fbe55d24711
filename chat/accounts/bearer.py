"""`Authorization: Bearer <API token>`: reading the header, and the WebSocket side.

The HTTP side is chat.edge.middleware.BearerTokenMiddleware. On a WebSocket, a handshake
with a Bearer header and no Origin header (a script, not a browser: a browser always
sends Origin and cannot set Authorization on a WebSocket) skips the origin check and
the session: the token alone signs it in. One that also has an Origin header must
pass the origin check first. An unknown, revoked or expired token leaves the socket
anonymous, so the consumer closes it with 4401, as for a missing login.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from chat.accounts import api_tokens as tokens
from security.origins import SiteOriginValidator

# An ASGI application, as Channels' routers and middleware are. Its scope is a dict
# whose keys depend on the protocol and the middleware before it: Channels' stubs
# type it three ways (asgiref's Scope, their own _ChannelScope, a plain dict).
Application: TypeAlias = Callable[[Any, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]


def bearer_value(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header: None when the header is
    absent or of another scheme, "" when the value after `Bearer` is not one token."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value if value and " " not in value else ""


def scope_bearer(scope: Mapping[str, Any]) -> str | None:
    headers = dict(scope.get("headers", []))
    return bearer_value(headers.get(b"authorization", b"").decode("latin1"))


def scope_client_ip(scope: Mapping[str, Any]) -> str | None:
    """The client's address, as security.client.client_ip finds it for a request:
    nginx's X-Real-IP when BEHIND_PROXY, else the peer's."""
    candidates = [(scope.get("client") or [None])[0]]
    if settings.BEHIND_PROXY:
        headers = dict(scope.get("headers", []))
        candidates.insert(0, headers.get(b"x-real-ip", b"").decode("latin1"))
    for value in candidates:
        try:
            return str(ipaddress.ip_address((value or "").strip()))
        except ValueError:
            continue
    return None


class TokenAuthMiddleware:
    """Sets scope["user"] (and scope["api_token_id"], ["api_token_scope"]) from the
    handshake's API token."""

    def __init__(self, inner: Application) -> None:
        self.inner = inner

    async def __call__(
        self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        raw = scope_bearer(scope) or ""
        token = await tokens.token_authenticate_async(raw, scope_client_ip(scope))
        scope = dict(scope, user=AnonymousUser())
        if token is not None:
            scope.update(user=token.user, api_token_id=token.pk, api_token_scope=token.scope)
        return await self.inner(scope, receive, send)


class BearerOrSessionMiddleware:
    """Sends a handshake with a Bearer header to token authentication, and every other
    one to `browser` (the origin check and the session stack) as before."""

    def __init__(self, inner: Application, *, browser: Application) -> None:
        self.browser = browser
        self.token = TokenAuthMiddleware(inner)
        self.token_with_origin = SiteOriginValidator(self.token)

    async def __call__(
        self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope_bearer(scope) is None:
            return await self.browser(scope, receive, send)
        has_origin = any(name == b"origin" for name, _ in scope.get("headers", []))
        app = self.token_with_origin if has_origin else self.token
        await app(scope, receive, send)
