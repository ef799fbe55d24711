"""Security headers for every response; a readable 503 while the database is down;
the operations endpoints (health, readiness, metrics) answered before anything else;
API tokens (`Authorization: Bearer`) instead of the session."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host

from chat.accounts import api_tokens as tokens
from chat.accounts.bearer import bearer_value
from chat.accounts.scopes import http_refusal
from chat.errors import ErrorCode, Refusal
from chat.models import ApiToken
from chat.ops import health
from chat.telemetry import metrics
from chat.transports.http.responses import refusal
from chat.transports.openai.errors import refusal_response
from security.client import client_ip

logger = logging.getLogger(__name__)

DATABASE_DOWN = "The database is unavailable for a moment; try again shortly."
RETRY_AFTER_SECONDS = 5


def door_refusal(request: HttpRequest, exc: Refusal) -> HttpResponse:
    """A refusal in the shape of the door the request came to: OpenAI's under /v1/,
    the JSON API's under /api/, plain text on pages."""
    if request.path_info.startswith("/v1/"):
        return refusal_response(exc)
    if request.path_info.startswith("/api/"):
        return refusal(exc)
    response = HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    if (retry_after := exc.retry_after_header()) is not None:
        response["Retry-After"] = retry_after
    return response


def database_down(request: HttpRequest, exception: Exception) -> HttpResponse:
    """503 in the door's shape, one warning line logged."""
    logger.warning("%s %s: database unavailable: %s", request.method, request.path, exception)
    metrics.DATABASE_ERRORS.inc()
    down = Refusal(ErrorCode.UNAVAILABLE, DATABASE_DOWN, retry_after=RETRY_AFTER_SECONDS)
    return door_refusal(request, down)


# Model output is rendered as HTML (sanitized Markdown); this policy is the second
# line of defence: only our own scripts run, images come from here or data: URLs,
# sockets and fetches go to this origin only.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class EitherMode:
    """A middleware class Django can run in its async chain as well as its sync one.

    One sync-only middleware makes Django run it, and everything below it, on the
    process's single thread-sensitive thread, held until an async view returns: an
    SSE request's set-up then waited for every other request's (50 at once: +340 ms
    to the first token). `__call__` hands a request to `__acall__` in the async chain
    and to `handle` in the sync one; both pass it on unchanged unless overridden."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        return self.handle(request)

    def handle(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        return await self.get_response(request)


class ContentSecurityPolicyMiddleware(EitherMode):
    def handle(self, request: HttpRequest) -> HttpResponse:
        return with_policy(self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        return with_policy(await self.get_response(request))


def with_policy(response: HttpResponse) -> HttpResponse:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response


class DatabaseUnavailableMiddleware(EitherMode):
    """A view that cannot reach the database (an outage, a pool with no connection to
    lend) answers 503 with a Retry-After and a readable reason, JSON under /api/, not
    a stack trace or Django's technical 500 page; one warning line is logged."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        return database_down(request, exception)


OPERATIONS = {"/healthz": health.healthz, "/readyz": health.readyz, "/metrics": metrics.metrics}
# Hosts the operations paths answer besides ALLOWED_HOSTS: probes on the machine or pod
# (compose's health check, kubelet with `Host: localhost` set in deploy/k8s). A browser
# tricked by DNS rebinding sends the attacker's own name, never these.
PROBE_HOSTS = ("localhost", "127.0.0.1", "[::1]")
UNKNOWN_HOST = "Unknown host: this server does not answer for it."


def probe_host_allowed(request: HttpRequest) -> bool:
    """The request's Host is one Django allows (ALLOWED_HOSTS) or in PROBE_HOSTS."""
    try:
        request.get_host()
    except DisallowedHost:
        domain, _port = split_domain_port(request.META.get("HTTP_HOST", ""))
        return bool(domain) and validate_host(domain, PROBE_HOSTS)
    return True


class OperationsMiddleware:
    """Answers /healthz, /readyz and /metrics itself, first in MIDDLEWARE.

    Probers and scrapers do not look like visitors: probes speak plain HTTP
    (SECURE_SSL_REDIRECT would answer 301), and they need no session, CSRF or login.
    Nothing below this middleware runs for these paths, so none of that applies and
    no session or database work is done. The Host is checked as everywhere (400
    unless ALLOWED_HOSTS or PROBE_HOSTS has it): kubelet sends the pod's IP unless
    the probe sets `Host`, as deploy/k8s does. Async only: the views are async, and
    no thread is taken per probe."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponse]]) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        view = OPERATIONS.get(request.path_info)
        if view is None:
            return await self.get_response(request)
        if not probe_host_allowed(request):
            response = door_refusal(request, Refusal(ErrorCode.BAD_REQUEST, UNKNOWN_HOST))
        elif request.method in ("GET", "HEAD"):
            response = await view(request)
        else:
            response = HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
        response["Cache-Control"] = "no-store"
        # Not a line per refused scrape or failing probe from django.request (nor a
        # thread to write it): /readyz logs when its state changes.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response


# Where a token does not sign in, even a valid one: the admin, the account pages
# (a password change) and the token page itself. A stolen token must not become the
# account, nor mint tokens.
TOKEN_REFUSED_PREFIXES = ("/admin/", "/accounts/", "/settings/")
INVALID_TOKEN = "Invalid API token: it is unknown, revoked, expired, or not a token of this site."
TOKEN_REFUSED = "API tokens do not work here: log in to the site."


class BearerTokenMiddleware(EitherMode):
    """`Authorization: Bearer <API token>` signs the request in as the token's user,
    instead of the session cookie; right after AuthenticationMiddleware.

    A bearer request carries no cookie a page could have sent in its name, so CSRF
    does not apply: CsrfViewMiddleware checks in process_view, after every
    middleware's request phase, and sees the exemption set here. An unknown, revoked,
    expired or malformed token is a 401 at once (OpenAI's error body under /v1/), a
    request outside the token's scope a 403 (scopes.py). Requests without a Bearer
    header pass through untouched."""

    def handle(self, request: HttpRequest) -> HttpResponse:
        raw = bearer_value(request.headers.get("Authorization"))
        if raw is None:
            return self.get_response(request)
        try:
            token = tokens.token_authenticate(raw, client_ip(request))
        except (OperationalError, InterfaceError) as exc:  # above the 503 middleware
            return database_down(request, exc)
        return sign_in(request, token) or self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        raw = bearer_value(request.headers.get("Authorization"))
        if raw is None:
            return await self.get_response(request)
        try:
            token = await tokens.token_authenticate_async(raw, client_ip(request))
        except (OperationalError, InterfaceError) as exc:  # above the 503 middleware
            return database_down(request, exc)
        return sign_in(request, token) or await self.get_response(request)


def sign_in(request: HttpRequest, token: ApiToken | None) -> HttpResponse | None:
    """Make the token's user the request's; a refusal to send instead, or None."""
    path = request.path_info
    if token is None:
        response = door_refusal(request, Refusal(ErrorCode.NOT_AUTHENTICATED, INVALID_TOKEN))
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    if path.startswith(TOKEN_REFUSED_PREFIXES):
        return refusal(Refusal(ErrorCode.NOT_ALLOWED, TOKEN_REFUSED, status=403))
    if out_of_scope := http_refusal(token.scope, method=request.method or "", path=path):
        return door_refusal(request, out_of_scope)
    user = token.user

    async def auser() -> Any:
        return user

    request.user = user
    request.auser = auser
    request.api_token = token
    request._dont_enforce_csrf_checks = True
    return None
