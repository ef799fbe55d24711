"""The sign-up throttle: at most SIGNUP_RATE_LIMIT sign-up submissions per client
address in any SIGNUP_RATE_WINDOW_MINUTES, counted in the database (SignupAttempt) so
that every server process sees the same count.

django-axes only counts failed log-ins; a sign-up is not one, so it is counted here.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from .client import client_ip
from .models import SignupAttempt


def signup_retry_after(request: HttpRequest) -> int | None:
    """Count this sign-up submission; None when it may go on, else the seconds to wait.

    The attempt is saved before the count (each statement commits on its own), so two
    processes that race both see each other's attempt: a race refuses one attempt too
    many, never lets one too many through. Refused attempts count too: a client that
    keeps flooding stays throttled until it stops for a whole window.
    """
    limit = settings.SIGNUP_RATE_LIMIT
    window = timedelta(minutes=settings.SIGNUP_RATE_WINDOW_MINUTES)
    now = timezone.now()
    ip = client_ip(request)
    SignupAttempt.objects.filter(created__lte=now - window).delete()
    SignupAttempt.objects.create(ip_address=ip, created=now)
    recent = SignupAttempt.objects.filter(ip_address=ip, created__gt=now - window)
    if recent.count() <= limit:
        return None
    # The next attempt may go on once only limit - 1 of these are left in the window,
    # i.e. when the limit-th newest leaves it.
    leaves = recent.order_by("-created").values_list("created", flat=True)[limit - 1]
    return max(1, math.ceil((leaves + window - now).total_seconds()))
