"""The user's API token page: create a token (shown once), list and revoke them.

A session page only: the middleware refuses tokens under /settings/, and the views
check again, so that a token can never mint or revoke tokens."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from chat.accounts import api_tokens as tokens
from chat.accounts.sudo import sudo_active, sudo_confirm
from chat.models import ApiToken
from chat.transports.http.forms import ApiTokenForm
from chat.transports.http.responses import AuthenticatedHttpRequest

WRONG_PASSWORD = _("That is not your password.")


def session_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """login_required, and signed in with the session, not an API token."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "api_token", None) is not None:
            raise PermissionDenied(gettext("API tokens cannot manage API tokens."))
        return view(request, *args, **kwargs)

    return login_required(wrapper)


# Where a new token waits between the POST that made it and the page that shows it
# once (post/redirect/get: a reload mints nothing). The session could sign in as the
# user anyway; the value leaves it at the next view of the page.
CREATED_KEY = "chat.api_token_created"


@session_required
@require_http_methods(["GET", "POST"])
def tokens_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The list and the form; a POST that creates a token redirects to the page, which
    shows it once. Creating one asks for the password again outside sudo mode
    (accounts/sudo.py)."""
    form = ApiTokenForm(request.POST or None, ask_password=not sudo_active(request))
    if request.method == "POST" and form.is_valid():
        created = _create(request, form)
        if created is not None:
            token, raw = created
            request.session[CREATED_KEY] = {"id": token.pk, "raw": raw}
            return redirect("chat:tokens")
    context = {
        "form": form,
        "created": _created_once(request),
        "tokens": tokens.token_list(user=request.user),
        "password_revocations": tokens.password_revocations(user=request.user),
        "api_url": request.build_absolute_uri("/api/conversations/"),
    }
    response = render(request, "chat/tokens.html", context)
    response["Cache-Control"] = "no-store"  # the new token must not stay in a cache
    return response


def _created_once(request: AuthenticatedHttpRequest) -> dict[str, Any] | None:
    """The token the last POST made and its raw value, taken out of the session."""
    kept = request.session.pop(CREATED_KEY, None)
    if not isinstance(kept, dict) or not isinstance(kept.get("id"), int):
        return None
    token = ApiToken.objects.filter(pk=kept["id"], user=request.user).first()
    return None if token is None else {"token": token, "raw": kept.get("raw", "")}


def _create(request: AuthenticatedHttpRequest, form: ApiTokenForm) -> tuple[ApiToken, str] | None:
    """The token the valid `form` asks for, and its raw value; None (the form then says
    why) when the password is wrong or the user has too many tokens."""
    if form.ask_password and not sudo_confirm(request, request.user, form.cleaned_data["password"]):
        form.add_error("password", WRONG_PASSWORD)
        return None
    try:
        token, raw = tokens.token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            lifetime=form.lifetime(),
        )
    except tokens.TokenLimitReached as exc:
        form.add_error(None, str(exc))
        return None
    return token, raw


@session_required
@require_http_methods(["GET", "POST"])
def token_revoke(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    """GET asks to confirm (a page, no script needed); POST revokes."""
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    if token.revoked is not None:
        return redirect("chat:tokens")
    if request.method == "GET":
        return render(request, "chat/token_revoke.html", {"token": token})
    tokens.token_revoke(token=token, why=ApiToken.Revocation.OWNER)
    revoked = gettext("Revoked the token “%(name)s” (%(prefix)s…).")
    messages.success(request, revoked % {"name": token.name, "prefix": token.prefix})
    return redirect("chat:tokens")
