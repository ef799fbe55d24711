"""Test-only settings: chatsite.settings in a process whose clock is off.

A server started with DJANGO_SETTINGS_MODULE=tests.support.skewed_clock and
TEST_CLOCK_SKEW_SECONDS=26 reads every time through `django.utils.timezone.now` 26 s
ahead (negative: behind), as a server with a skewed system clock would. Loaded
before any app module, so all of them see the shifted clock (tests/e2e/test_clocks.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

from chatsite.settings import *  # noqa: F403

_real_now: Callable[[], datetime] = timezone.now
_skew = timedelta(seconds=float(os.environ.get("TEST_CLOCK_SKEW_SECONDS", "0")))


def _skewed_now() -> datetime:
    return _real_now() + _skew


timezone.now = _skewed_now
