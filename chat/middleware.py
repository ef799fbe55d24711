"""Security headers for every response; a readable 503 while the database is down."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from .contract import ErrorCode

logger = logging.getLogger(__name__)

DATABASE_DOWN = "The database is unavailable for a moment; try again shortly."
RETRY_AFTER_SECONDS = 5

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


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class DatabaseUnavailableMiddleware:
    """A view that cannot reach the database (an outage, a pool with no connection to
    lend) answers 503 with a Retry-After and a readable reason, JSON under /api/, not
    a stack trace or Django's technical 500 page; one warning line is logged."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("%s %s: database unavailable: %s", request.method, request.path, exception)
        if request.path.startswith("/api/"):
            from .views import json_error

            response: HttpResponse = json_error(503, ErrorCode.UNAVAILABLE, DATABASE_DOWN)
        else:
            response = HttpResponse(DATABASE_DOWN, status=503, content_type="text/plain")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
