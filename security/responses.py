"""The pages (or JSON bodies) of a refused sign-up or log-in: readable, with a retry hint."""

from __future__ import annotations

import math
from typing import Any

from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from chat.errors import ErrorCode

from .client import client_ip


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

    `what` is the first sentence, e.g. "Too many failed log-in attempts." (translated)."""
    wait = _duration(retry_after)
    message = gettext("%(what)s Try again in %(wait)s.") % {"what": what, "wait": wait}
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


def _duration(seconds: int) -> str:
    """ "40 seconds", "1 minute", "15 minutes": whole minutes from one minute on."""
    if seconds < 60:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def locked_out(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """django-axes' AXES_LOCKOUT_CALLABLE: the answer to a log-in while its username and
    address pair is locked out.

    Attempts during a lockout do not extend it (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_
    LOCKOUT is off), so the wait is what is left of the cool-off since the pair's last
    recorded failure. axes passes (request, response, credentials) or, from its async
    middleware, (request, credentials).
    """
    cool_off = settings.AXES_COOLOFF_TIME
    credentials = kwargs.get("credentials") or next(
        (arg for arg in args if isinstance(arg, dict)), None
    )
    username = get_client_username(request, credentials)
    last = (
        AccessAttempt.objects.filter(username=username, ip_address=client_ip(request))
        .aggregate(last=Max("attempt_time"))
        .get("last")
    )
    left = (last + cool_off - timezone.now()) if last else cool_off
    retry_after = max(1, math.ceil(left.total_seconds()))
    return too_many_attempts(request, gettext("Too many failed log-in attempts."), retry_after)
