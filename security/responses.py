"""The pages (or JSON bodies) of a refused sign-up or log-in: readable, with a retry hint."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from chat.errors import ErrorCode


def wants_json(request: HttpRequest) -> bool:
    """An API client or script rather than a browser page."""
    accept = request.headers.get("Accept", "")
    return (
        request.path.startswith("/api/")
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
        or ("application/json" in accept and "text/html" not in accept)
    )


def too_many_attempts(request: HttpRequest, what: str, retry_after: int) -> HttpResponse:
    """429 with a Retry-After header: a page that says when to try again, or JSON.

    `what` completes "Too many …", e.g. "failed log-in attempts"."""
    minutes = max(1, math.ceil(retry_after / 60))
    wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
    message = f"Too many {what}. Try again in {wait}."
    if wants_json(request):
        response: HttpResponse = JsonResponse(
            {
                "error": {
                    "code": ErrorCode.RATE_LIMITED,
                    "message": message,
                    "retry_after": retry_after,
                }
            },
            status=429,
        )
    else:
        context = {"message": message, "wait": wait}
        response = render(request, "registration/too_many_attempts.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def locked_out(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """django-axes' AXES_LOCKOUT_CALLABLE: the answer to a log-in while locked out.

    Every attempt during a lockout starts the cool-off again
    (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so the wait is one whole cool-off.
    axes passes (request, response, credentials) or, from its async middleware,
    (request, credentials): neither is needed here.
    """
    retry_after = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds()))
    return too_many_attempts(request, "failed log-in attempts", retry_after)
