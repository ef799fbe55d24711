"""Sudo mode, as GitHub has it: a sensitive action (minting an API token) asks for
the password again, unless the user confirmed it in the last SUDO_MODE_MINUTES.

The confirmation's time is kept in the session, so it ends with the session (a
logout) and belongs to this browser only. The password is checked by
`authenticate()`, through django-axes: wrong guesses from a stolen session count as
failed log-ins and lock out as those do.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import authenticate

if TYPE_CHECKING:
    from django.http import HttpRequest

    from chat.models import User

SESSION_KEY = "chat_sudo_confirmed_at"


def sudo_active(request: HttpRequest) -> bool:
    """Did the user confirm the password in this session a short while ago?"""
    confirmed = request.session.get(SESSION_KEY)
    if not isinstance(confirmed, int | float):
        return False
    return 0 <= time.time() - confirmed < settings.SUDO_MODE_MINUTES * 60


def sudo_confirm(request: HttpRequest, user: User, password: str) -> bool:
    """Check `password` as a log-in would; right, it opens sudo mode in the session."""
    checked = authenticate(request, username=user.get_username(), password=password)
    if checked is None or checked.pk != user.pk:
        return False
    request.session[SESSION_KEY] = time.time()
    return True
