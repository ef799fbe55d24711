"""The JSON API of the day's token budget: what the user has used of it, and when it
renews (the chat page's meter reads it)."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from chat.conversations import quotas, serializers
from chat.transports.http.responses import AuthenticatedHttpRequest, api_login_required


@api_login_required
@require_http_methods(["GET"])
def api_usage(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's tokens today against CHAT_DAILY_TOKEN_BUDGET (`budget` null: none)."""
    usage = quotas.usage_today(user_id=request.user.pk)
    return JsonResponse(serializers.usage_to_dict(usage))
