from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def signup(request: HttpRequest) -> dict[str, bool]:
    """`signup_allowed` for the templates: the log-in page links to sign-up only then."""
    return {"signup_allowed": settings.ALLOW_SIGNUP}
