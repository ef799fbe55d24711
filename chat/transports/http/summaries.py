"""The JSON API of a long conversation's summary (issue #25): read it with the context
meter, edit its text, or clear it. Owner only; thin: reads and writes in
chat/conversations/summaries.py."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from chat.conversations import selectors, summaries
from chat.conversations.context_plan import summary_cap
from chat.errors import ErrorCode
from chat.models import Conversation
from chat.transports.http.responses import (
    AuthenticatedHttpRequest,
    api_login_required,
    json_error,
    read_json,
)


@api_login_required
@require_http_methods(["GET", "PUT", "DELETE"])
def api_conversation_summary(
    request: AuthenticatedHttpRequest, conversation_id: str
) -> HttpResponse:
    """GET: the summary of the current path (null: none) and the context meter; PUT
    `{"text"}`: its owner's text instead; DELETE: cleared (today's cut until a new one
    is written past it)."""
    try:
        conversation = selectors.conversation_get(
            user=request.user, conversation_id=conversation_id
        )
    except Conversation.DoesNotExist:
        return json_error(404, ErrorCode.NOT_FOUND, gettext("No such conversation."))
    summary, plan = summaries.summary_current(conversation_id=conversation.pk)
    if request.method == "GET":
        return JsonResponse(summaries.summary_to_dict(summary, plan))
    if summary is None:
        return json_error(404, ErrorCode.NOT_FOUND, gettext("This conversation has no summary."))
    if request.method == "DELETE":
        summaries.summary_clear(summary=summary)
        return HttpResponse(status=204)
    text, error = _text(request)
    if error is not None:
        return error
    summaries.summary_edit(summary=summary, text=text)
    return JsonResponse(
        summaries.summary_to_dict(*summaries.summary_current(conversation_id=conversation.pk))
    )


def _text(request: AuthenticatedHttpRequest) -> tuple[str, JsonResponse | None]:
    """The body's `text`: a string of 1 to `summary_cap` characters (so that it fits the
    history budget), else the 400 to answer."""
    try:
        data = read_json(request)
    except ValueError:
        return "", json_error(
            400, ErrorCode.BAD_REQUEST, gettext("The body must be a JSON object.")
        )
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        message = gettext("Send the summary's text; to clear it, use DELETE.")
        return "", json_error(400, ErrorCode.INVALID, message)
    cap = summary_cap(settings.CHAT_HISTORY_CHAR_BUDGET)
    if len(text) > cap:
        message = gettext("A summary may be at most %(cap)d characters.") % {"cap": cap}
        return "", json_error(400, ErrorCode.TOO_LONG, message, max_chars=cap)
    return text.strip(), None
