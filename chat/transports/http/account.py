"""The account page (/settings/account/): the password, the signed-in sessions (sign
out of all others), the API tokens, the export, and deleting the account."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from chat.accounts import sessions
from chat.accounts.devices import device_label
from chat.accounts.sudo import sudo_confirm
from chat.models import ApiToken
from chat.transports.http.forms import DeleteAccountForm
from chat.transports.http.responses import AuthenticatedHttpRequest
from chat.transports.http.token_views import WRONG_PASSWORD, session_required
from security.client import client_ip

STREAMING = _("An answer is still being written: stop it or let it finish, then delete.")
DELETED = _("Your account and all its conversations were deleted.")


def seen(request: AuthenticatedHttpRequest) -> None:
    """This browser's session was here (its `last_seen`, at most once a minute)."""
    key = request.session.session_key
    if key and getattr(request, "api_token", None) is None:
        sessions.session_seen(
            user=request.user,
            session_key=key,
            user_agent=request.headers.get("User-Agent", ""),
            address=client_ip(request),
        )


@session_required
@require_http_methods(["GET", "POST"])
def account_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    seen(request)
    form = DeleteAccountForm()
    if request.method == "POST" and request.POST.get("action") == "end-others":
        keep = request.session.session_key or ""
        ended = sessions.sessions_end_others(user=request.user, keep=keep)
        signed_out = ngettext(
            "Signed out of %(count)d other session.",
            "Signed out of %(count)d other sessions.",
            ended,
        )
        messages.success(request, signed_out % {"count": ended})
        return redirect("chat:account")
    if request.method == "POST" and request.POST.get("action") == "delete":
        form = DeleteAccountForm(request.POST)
        if form.is_valid():
            if not sudo_confirm(request, request.user, form.cleaned_data["password"]):
                form.add_error("password", WRONG_PASSWORD)
            elif sessions.answers_streaming(user=request.user):
                form.add_error(None, STREAMING)
            else:
                user = request.user
                logout(request)
                sessions.account_delete(user=user)
                messages.info(request, DELETED)
                return redirect("login")
    return render(request, "chat/account.html", context(request, form))


def context(request: AuthenticatedHttpRequest, form: DeleteAccountForm) -> dict[str, object]:
    current = request.session.session_key
    signed_in = [
        {
            "device": device_label(record.user_agent),
            "address": record.address or gettext("unknown address"),
            "last_seen": record.last_seen,
            "current": record.session_key == current,
        }
        for record in sessions.sessions_of(user=request.user)
    ]
    tokens = ApiToken.objects.filter(user=request.user, revoked__isnull=True).count()
    return {"sessions": signed_in, "active_tokens": tokens, "form": form}
