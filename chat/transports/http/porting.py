"""Export and import that keep branches (issue #24): a conversation as our JSON or
Markdown, the whole account as a zip, streamed; an import of our JSON or ChatGPT's
`conversations.json` (chat/conversations/porting/). Only the owner's data, ever."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from django.conf import settings
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from chat.conversations import quotas, selectors, serializers
from chat.conversations.porting import exporting, importing
from chat.conversations.porting.drafts import Draft
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation
from chat.provider import llm
from chat.transports.http.responses import (
    AuthenticatedHttpRequest,
    api_login_required,
    json_error,
    refusal,
)

FORMATS = {
    "json": ("application/json; charset=utf-8", "json"),
    "markdown": ("text/markdown; charset=utf-8", "md"),
}
FORM_MARGIN = 64 * 1024  # a multipart body's boundaries and fields around the file


def download(
    content: AsyncIterator[str] | AsyncIterator[bytes], content_type: str, filename: str
) -> HttpResponse:
    """A streamed attachment (typed as HttpResponse for api_login_required)."""
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return cast(HttpResponse, response)


@api_login_required
@require_http_methods(["GET"])
def api_conversation_export(
    request: AuthenticatedHttpRequest, conversation_id: str
) -> HttpResponse:
    """`?format=json` (default: every message, the whole tree) or `markdown` (the
    branch shown)."""
    kind = request.GET.get("format", "json")
    if kind not in FORMATS:
        return json_error(400, ErrorCode.BAD_REQUEST, _("format must be json or markdown."))
    try:
        conversation = selectors.conversation_get(
            user=request.user, conversation_id=conversation_id
        )
    except Conversation.DoesNotExist:
        return json_error(404, ErrorCode.NOT_FOUND, _("No such conversation."))
    content_type, suffix = FORMATS[kind]
    filename = f"conversation-{conversation.pk}.{suffix}"
    if kind == "json":
        stream = exporting.export_json(owner_id=request.user.pk, conversation_id=conversation.pk)
    else:
        stream = exporting.export_markdown(conversation=conversation)
    return download(stream, content_type, filename)


@api_login_required
@require_http_methods(["GET"])
def api_export(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Everything of the user's: `conversations.json` and one Markdown file each, zipped."""
    return download(
        exporting.export_zip(owner_id=request.user.pk),
        "application/zip",
        f"chat-export-{timezone.now():%Y-%m-%d}.zip",
    )


def uploaded_bytes(request: AuthenticatedHttpRequest) -> bytes:
    """The file of a multipart upload (field `file`) or the JSON body, read only if it
    is not over IMPORT_MAX_BYTES (a Refusal `too_long` otherwise)."""
    most = settings.IMPORT_MAX_BYTES
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if (too_big := importing.too_big(declared - FORM_MARGIN)) is not None:
        raise too_big
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise Refusal(ErrorCode.BAD_REQUEST, _("Send the file in the form field `file`."))
        if (too_big := importing.too_big(upload.size or 0)) is not None:
            raise too_big
        return bytes(upload.read())
    raw = request.read(most + 1)  # not request.body: DATA_UPLOAD_MAX_MEMORY_SIZE is smaller
    if (too_big := importing.too_big(len(raw))) is not None:
        raise too_big
    return bytes(raw)


def known_models_only(drafts: list[Draft]) -> None:
    """A conversation's model is kept only if this server has it (else its default)."""
    for draft in drafts:
        if draft.model:
            try:
                llm.resolve_model(draft.model)
            except llm.UnknownModel:
                draft.model = ""


@api_login_required
@require_http_methods(["POST"])
def api_import(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Our JSON or ChatGPT's conversations.json (or a zip holding one): 201 with what
    was added, 200 when the file was imported before (nothing added)."""
    try:
        quotas.throttle(user_id=request.user.pk, action="import")
        drafts = importing.read_file(uploaded_bytes(request))
        known_models_only(drafts)
        result = importing.import_drafts(owner=request.user, drafts=drafts)
    except Refusal as exc:
        return refusal(exc)
    body = {
        "imported": len(result.conversations),
        "already_imported": result.already,
        "messages": result.messages,
        "left_out": result.left_out,
        "conversations": [serializers.conversation_to_dict(c) for c in result.conversations],
    }
    return JsonResponse(body, status=201 if result.conversations else 200)
