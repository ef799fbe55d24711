"""`POST /slack/events`: Slack's Events API.

Every request is verified first (Slack's signature over the raw body and its
timestamp, refused more than 5 minutes off: slack_sdk's `SignatureVerifier`), then a
`url_verification` is answered with its challenge and an event that asks something
(chat/slack/events.py) is recorded once by its event id and by its message
(`SlackEvent`): a retry (`X-Slack-Retry-Num`) or a second event for the same message
finds its row and starts nothing. The answer starts in a task of its own and the
request is acknowledged at once, well within Slack's 3 seconds.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.signature import SignatureVerifier

from chat.db import db_call
from chat.slack import services
from chat.slack.events import ask_of
from chat.transports.slack import answer

logger = logging.getLogger(__name__)

NOT_ON = "The Slack bot is not configured on this server."
BAD_SIGNATURE = "The request's Slack signature or timestamp is not valid."


def error(status: int, code: str, message: str) -> JsonResponse:
    """This door's error shape: `{"ok": false, "error": code, "message": ...}`."""
    return JsonResponse({"ok": False, "error": code, "message": message}, status=status)


def enabled() -> bool:
    return bool(settings.SLACK_BOT_TOKEN and settings.SLACK_SIGNING_SECRET)


@csrf_exempt
@require_POST
async def slack_events(request: HttpRequest) -> JsonResponse:
    """Slack's event: verified, answered or taken; 200 at once."""
    if not enabled():
        return error(404, "not_found", NOT_ON)
    verifier = SignatureVerifier(settings.SLACK_SIGNING_SECRET)
    if not verifier.is_valid_request(request.body, dict(request.headers)):
        return error(401, "invalid_signature", BAD_SIGNATURE)
    try:
        envelope: Any = json.loads(request.body)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        return error(400, "bad_request", "The body must be a JSON object.")
    if envelope.get("type") == "url_verification":
        return JsonResponse({"challenge": str(envelope.get("challenge", ""))})
    ask = ask_of(envelope) if envelope.get("type") == "event_callback" else None
    if ask is not None:
        take = db_call(services.event_take)
        if await take(event_id=ask.event_id, message_key=ask.message_key):
            answer.start(ask)
        else:
            logger.info(
                "Slack event %s taken before (retry %s)",
                ask.event_id,
                request.headers.get("X-Slack-Retry-Num", "-"),
            )
    return JsonResponse({"ok": True})
