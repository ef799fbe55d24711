"""Django's CSRF failure and 404 pages, answered in the door's shape: a script's
request to the JSON API or to /v1 gets JSON it can read, not an HTML page
(CSRF_FAILURE_VIEW, handler404); pages keep Django's."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

from chat.errors import ErrorCode, Refusal
from chat.transports.http.responses import refusal
from chat.transports.openai.errors import openai_error, refusal_response

NOT_AUTHENTICATED = "Log in first, or send a personal API token as 'Authorization: Bearer <token>'."
CSRF_FAILED = (
    "CSRF check failed: a request signed in by the session cookie needs the "
    "X-CSRFToken header; a script should send an API token instead."
)
NOT_FOUND = "Nothing here: {path} is not a path of this API."


def in_door_shape(request: HttpRequest, exc: Refusal) -> HttpResponse | None:
    """The refusal as OpenAI's error under /v1/, the JSON API's under /api/, or None."""
    if request.path_info.startswith("/v1/"):
        return refusal_response(exc)
    if request.path_info.startswith("/api/"):
        return refusal(exc)
    return None


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Called by CsrfViewMiddleware when it refuses a request: who is not signed in
    gets the door's 401, a session without the CSRF token a JSON 403 with a code."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and not request.path_info.startswith("/v1/"):
        exc = Refusal(ErrorCode.CSRF_FAILED, CSRF_FAILED)
    else:
        exc = Refusal(ErrorCode.NOT_AUTHENTICATED, NOT_AUTHENTICATED)
    return in_door_shape(request, exc) or django_csrf_failure(request, reason=reason)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Called for an unknown path (without DEBUG): JSON under /api/ and /v1/ (there
    as OpenAI answers one: "Invalid URL", no code)."""
    if request.path_info.startswith("/v1/"):
        return openai_error(404, f"Invalid URL ({request.method} {request.path_info[:200]})")
    exc = Refusal(ErrorCode.NOT_FOUND, NOT_FOUND.format(path=request.path_info[:200]))
    return in_door_shape(request, exc) or defaults.page_not_found(request, exception)
