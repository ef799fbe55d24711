"""A warning in the log when a staff account is locked out: someone is guessing the
password of an account that can reach the admin."""

from __future__ import annotations

import logging
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.dispatch import receiver
from django.http import HttpRequest

logger = logging.getLogger(__name__)


@receiver(user_locked_out)
def staff_locked_out(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    """Called by django-axes when a pair is locked out, and again for each attempt
    during that lockout: only the first (the failure that reached the limit, so axes
    has counted the failures) is logged."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None or not username:
        return
    if get_user_model().objects.filter(username=username, is_staff=True).exists():
        logger.warning(
            "Staff account %r locked out of log-in from %s after %d failed attempts.",
            username,
            ip_address,
            failures,
        )
