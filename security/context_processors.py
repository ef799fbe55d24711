from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from .mail import mail_configured


def signup(request: HttpRequest) -> dict[str, bool]:
    """`signup_allowed` for the templates: the log-in page links to sign-up only then."""
    return {"signup_allowed": settings.ALLOW_SIGNUP}


def password_reset(request: HttpRequest) -> dict[str, bool]:
    """`password_reset_enabled`: the log-in page links to the reset pages only when
    they exist (mail is configured, security/mail.py)."""
    return {"password_reset_enabled": mail_configured()}
