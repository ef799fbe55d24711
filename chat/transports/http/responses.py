"""The JSON API's answers that are not data: errors in its shape, who asks, the body.

A refusal (errors.Refusal) becomes `{"error": {"code", "message", ...}}` with its
HTTP status and, when it says when to retry, a Retry-After header: here, once, for
the JSON API and the server-sent events API.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _

from chat.db import release_request_connection
from chat.errors import ErrorCode, Refusal
from chat.streaming.delivery import protocol

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from chat.errors import Sentence
    from chat.models import User
    from chat.transports.http.forms import PartialForm


class AuthenticatedHttpRequest(HttpRequest):
    """A request a view gets only once its user is signed in (login_required,
    api_login_required): for annotations."""

    user: User


def json_error(status: int, code: ErrorCode, message: Sentence, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)


def refusal(exc: Refusal) -> JsonResponse:
    """A refused request as JSON, with its status (errors.http_status) and, when it
    says when to try again, a Retry-After header."""
    response = json_error(exc.status, exc.code, exc.message, **exc.fields())
    if (retry_after := exc.retry_after_header()) is not None:
        response["Retry-After"] = retry_after
    return response


async def request_user(request: HttpRequest) -> User | AnonymousUser:
    """Who asks, from async code: a Bearer token's user, or the session's. The
    request's own database connection (the token's or the session's read) is given
    back here: what follows in an async view may wait long."""
    token = getattr(request, "api_token", None)
    user = token.user if token is not None else await request.auser()
    await release_request_connection()
    return user


def api_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like login_required, but answers 401 JSON instead of redirecting to a page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return json_error(401, ErrorCode.NOT_AUTHENTICATED, "Log in first.")
        return view(request, *args, **kwargs)

    return wrapper


def read_json(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    data = protocol.loads(request.body)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def valid_form(
    request: HttpRequest, form_class: type[PartialForm], what: str, *, partial: bool = True
) -> tuple[Any, JsonResponse | None]:
    """The request's JSON body validated by `form_class` (only the fields it holds, when
    `partial`), or the 400 answer to send instead."""
    try:
        data = read_json(request)
    except ValueError:
        return form_class(), json_error(
            400, ErrorCode.BAD_REQUEST, _("The body must be a JSON object.")
        )
    form = form_class(data, partial=partial)
    if not form.is_valid():
        return form, json_error(
            400, ErrorCode.INVALID, form.error_message(what), fields=form.errors.get_json_data()
        )
    return form, None
