"""Files to attach to a message (issue #25): upload one, fetch one back (its owner or
staff; always as a download, never shown inline), delete one not yet sent."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.http import FileResponse, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from chat.conversations import attachments, serializers
from chat.errors import ErrorCode, Refusal
from chat.models import Attachment
from chat.transports.http.responses import (
    AuthenticatedHttpRequest,
    api_login_required,
    json_error,
    refusal,
)

FORM_MARGIN = 64 * 1024  # a multipart body's boundaries and fields around the file
# What a file is served as: an image as its own type, a PDF as a PDF, every text
# (HTML too) as plain text; always a download, never sniffed.
SERVED_AS = {
    Attachment.Kind.TEXT: "text/plain; charset=utf-8",
    Attachment.Kind.PDF: "application/pdf",
}


@api_login_required
@require_http_methods(["POST"])
def api_attachments(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A multipart upload (field `file`): 201 with the stored file's id, name, size,
    kind and type; 413 `too_long`, 403 `storage_full`, 400 `invalid` otherwise."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if (too_big := attachments.too_big(declared - FORM_MARGIN)) is not None:
            raise too_big
        multipart = request.content_type == "multipart/form-data"
        upload = request.FILES.get("file") if multipart else None
        if upload is None:
            raise Refusal(ErrorCode.BAD_REQUEST, _("Send the file in the form field `file`."))
        if (too_big := attachments.too_big(upload.size or 0)) is not None:
            raise too_big
        data = upload.read(settings.ATTACHMENT_MAX_BYTES + 1)
        attachment = attachments.attachment_create(
            owner=request.user, data=bytes(data), name=upload.name or ""
        )
    except Refusal as exc:
        return refusal(exc)
    return JsonResponse(dict(serializers.attachment_to_dict(attachment)), status=201)


@api_login_required
@require_http_methods(["GET", "DELETE"])
def api_attachment(request: AuthenticatedHttpRequest, attachment_id: str) -> HttpResponse:
    """GET: the file, as a download, to its owner or staff (404 to anyone else);
    DELETE: an unsent file of the user's (204)."""
    try:
        attachment = attachments.attachment_get(user=request.user, attachment_id=attachment_id)
    except Attachment.DoesNotExist:
        return json_error(404, ErrorCode.NOT_FOUND, attachments.NO_SUCH_FILE)
    if request.method == "DELETE":
        try:
            attachments.attachment_delete_unsent(owner=request.user, attachment_id=attachment.pk)
        except Attachment.DoesNotExist:
            return json_error(404, ErrorCode.NOT_FOUND, attachments.NO_SUCH_FILE)
        return HttpResponse(status=204)
    attachments.audit_fetch(actor=request.user, attachment=attachment)
    content_type = SERVED_AS.get(Attachment.Kind(attachment.kind), attachment.mime)
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.name,
        content_type=content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return cast(HttpResponse, response)  # typed as HttpResponse for api_login_required
