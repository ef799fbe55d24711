"""Share links: the owner's JSON API (`/api/conversations/<id>/shares/`: list, create;
`/api/shares/`: all the user's; `/api/shares/<id>/`: read, DELETE revokes) and the
shared page `/s/<token>/`, a read-only snapshot (docs/DESIGN.md, "Share links")."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from chat.conversations import quotas, selectors, serializers, services, snapshots
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation, ShareLink
from chat.transports.http.forms import ShareForm
from chat.transports.http.responses import (
    AuthenticatedHttpRequest,
    api_login_required,
    json_error,
    refusal,
    valid_form,
)

NOT_FOUND = _("No such share link.")
GONE = {
    "revoked": (
        _("This link was revoked"),
        _("Its owner, or an administrator, stopped sharing it."),
    ),
    "expired": (_("This link has expired"), _("It was shared for a limited time, which is over.")),
}


def _share_json(request: HttpRequest, share: ShareLink) -> dict[str, object]:
    url = request.build_absolute_uri(reverse("chat:shared", args=[share.token]))
    return serializers.share_to_dict(share, url=url)


@api_login_required
@require_http_methods(["GET", "POST"])
def api_conversation_shares(
    request: AuthenticatedHttpRequest, conversation_id: str
) -> HttpResponse:
    """GET: the conversation's links, newest first; POST: a new one (201)."""
    try:
        conversation = selectors.conversation_get(
            user=request.user, conversation_id=conversation_id
        )
    except Conversation.DoesNotExist:
        return json_error(404, ErrorCode.NOT_FOUND, _("No such conversation."))
    if request.method == "GET":
        found = selectors.share_list(user=request.user, conversation_id=conversation.pk)
        return JsonResponse({"shares": [_share_json(request, share) for share in found]})
    form, error = valid_form(request, ShareForm, "share link", partial=False)
    if error:
        return error
    try:
        quotas.throttle(user_id=request.user.pk, action="share")
        share = services.share_create(
            conversation=conversation,
            scope=form.cleaned_data["scope"],
            lifetime=form.cleaned_data["expires"],
        )
    except Refusal as exc:
        return refusal(exc)
    return JsonResponse(_share_json(request, share), status=201)


@api_login_required
@require_http_methods(["GET"])
def api_shares(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every link of the user's, newest first, whatever its state."""
    found = selectors.share_list(user=request.user)
    return JsonResponse({"shares": [_share_json(request, share) for share in found]})


@api_login_required
@require_http_methods(["GET", "DELETE"])
def api_share(request: AuthenticatedHttpRequest, share_id: str) -> HttpResponse:
    """GET: one of the user's links; DELETE: revoke it (its page answers 410 from then
    on; it stays listed, revoked). Another's or an unknown id: 404."""
    try:
        share = selectors.share_get(user=request.user, share_id=share_id)
    except ShareLink.DoesNotExist:
        return json_error(404, ErrorCode.NOT_FOUND, NOT_FOUND)
    if request.method == "DELETE":
        services.share_revoke(share=share)
    return JsonResponse(_share_json(request, share))


def _noindex(response: HttpResponse) -> HttpResponse:
    """Never indexed, never kept by a cache (a revoked link must stop working)."""
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "HEAD"])
def shared_page(request: HttpRequest, token: str) -> HttpResponse:
    """The snapshot, read-only; for anyone with the link when ALLOW_PUBLIC_SHARES is
    on, otherwise for signed-in users (others are sent to log in). Unknown: 404;
    revoked or expired: 410, a page that says which. Each GET counts one view."""
    if not settings.ALLOW_PUBLIC_SHARES and not request.user.is_authenticated:
        return _noindex(redirect_to_login(request.get_full_path()))
    share = selectors.share_by_token(token=token)
    state = share.state() if share is not None else "missing"
    if share is None or state != "active":
        title, text = GONE.get(state, (_("No such link"), _("Check that it was copied whole.")))
        gone = {"gone_title": title, "gone_text": text}
        status = 404 if share is None else 410
        return _noindex(render(request, "chat/share_gone.html", gone, status=status))
    if request.method == "GET":
        services.share_viewed(share=share)
    snapshot: snapshots.Snapshot = share.snapshot
    context: dict[str, Any] = {
        "title": snapshot["title"],
        "scope": snapshot["scope"],
        "shared_on": share.created,
        "path": snapshots.shown_path(snapshot),
        "snapshot": snapshot,
    }
    return _noindex(render(request, "chat/shared.html", context))
