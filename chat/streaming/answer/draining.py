"""Whether this process still takes new answers: no, from SIGTERM on (ops/shutdown.py
drains; exchanges.py refuses; the readiness probe reports it)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

SHUTTING_DOWN = _("The server is restarting. Send your message again in a moment.")
RETRY_AFTER_SECONDS = 2

_draining = False


def draining() -> bool:
    """True from SIGTERM on: no new answer may start in this process."""
    return _draining


def begin() -> None:
    """Called when the process starts draining: refuse new answers from now on."""
    global _draining
    _draining = True
