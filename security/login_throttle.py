"""The log-in slowdown: an address, or a username, that keeps failing waits longer and
longer between attempts (429 with Retry-After), while the owner of a name, logging in
from an address that has not failed on it, is never slowed by the name's failures.

django-axes locks one username-and-address pair out after LOGIN_FAILURE_LIMIT failures
(chatsite/settings.py); that alone lets an attacker with many addresses try
LOGIN_FAILURE_LIMIT - 1 passwords per address and name. This counts the same failures
(axes' AccessAttempt rows, which expire one cool-off after their pair's last failure):

- per address, over every name: past LOGIN_SLOWDOWN_AFTER failures the address waits
  1 s after its latest failure, then 2 s, 4 s, … up to LOGIN_SLOWDOWN_MAX_SECONDS;
- per name, over every address: the same growing wait, but only for the addresses that
  have already failed on that name. Each new address gets one try, then joins the
  queue; the owner's own address, which has not failed, goes straight through.

A refused attempt is not a failure (the password is not even checked), so waiting
attackers never push the wait further out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin
from django.utils.translation import gettext

from .client import client_ip
from .responses import too_many_attempts

LOGIN_VIEWS = {("", "login"), ("admin", "login")}  # (namespace, url name)


def slowdown_seconds(failures: int) -> int:
    """The wait after the latest of `failures` recent failures (0: none)."""
    over = failures - settings.LOGIN_SLOWDOWN_AFTER
    if over < 0:
        return 0
    return int(min(settings.LOGIN_SLOWDOWN_MAX_SECONDS, 2**over))


def _wait(attempts: QuerySet[AccessAttempt], now: datetime) -> float:
    totals = attempts.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    if not totals["failures"] or totals["last"] is None:
        return 0.0
    ready = totals["last"] + timezone.timedelta(seconds=slowdown_seconds(totals["failures"]))
    return (ready - now).total_seconds()


def login_retry_after(request: HttpRequest, username: str) -> int | None:
    """None when this log-in attempt may be checked now, else the seconds to wait."""
    now = timezone.now()
    ip = client_ip(request)
    recent = AccessAttempt.objects.filter(attempt_time__gt=now - settings.AXES_COOLOFF_TIME)
    wait = _wait(recent.filter(ip_address=ip), now)
    if username and recent.filter(username=username, ip_address=ip).exists():
        wait = max(wait, _wait(recent.filter(username=username), now))
    return math.ceil(wait) if wait > 0 else None


class LoginSlowdownMiddleware(MiddlewareMixin):
    """Answers a log-in POST (the chat's or the admin's) 429 while its address or its
    name must wait; runs after the CSRF check, before the view checks the password."""

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        match = request.resolver_match
        if request.method != "POST" or match is None:
            return None
        if (match.namespace, match.url_name) not in LOGIN_VIEWS:
            return None
        username = request.POST.get("username", "")
        retry_after = login_retry_after(request, username)
        if retry_after is None:
            return None
        return too_many_attempts(request, gettext("Too many log-in attempts."), retry_after)
