"""Files attached to messages (issue #25): stored through Django's default storage,
checked against ATTACHMENT_MAX_BYTES and ATTACHMENT_MAX_BYTES_PER_USER, typed from
their content (filetypes.py), read back only by their owner and staff, and removed
from the storage with their row (a conversation's or an account's deletion too)."""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Now
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.conversations import filetypes, quotas, services
from chat.conversations.quotas import StorageFull
from chat.errors import ErrorCode, Refusal
from chat.models import Attachment, AuditEvent

if TYPE_CHECKING:
    from chat.models import Message, User

logger = logging.getLogger(__name__)

TEXT_CAP = 1_000_000  # the characters of a file's text kept (what the model gets is less)
NO_SUCH_FILE = _("No such file.")


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:g}"


def too_big(size: int) -> Refusal | None:
    """A file over ATTACHMENT_MAX_BYTES: `too_long` (413)."""
    most = settings.ATTACHMENT_MAX_BYTES
    if size > most:
        return Refusal(
            ErrorCode.TOO_LONG,
            format_lazy(
                _("The file is larger than {megabytes} MB, the most one may attach."),
                megabytes=megabytes(most),
            ),
        )
    return None


def stored_bytes(*, owner_id: int) -> int:
    return Attachment.objects.filter(owner_id=owner_id).aggregate(n=Sum("size"))["n"] or 0


def attachment_create(*, owner: User, data: bytes, name: str) -> Attachment:
    """Store an unsent file of `owner`'s; a Refusal (nothing stored) when it is too
    big, would pass what the user may keep, or is not a kind this server takes."""
    if (refusal := too_big(len(data))) is not None:
        raise refusal
    if not data:
        raise Refusal(ErrorCode.INVALID, _("The file is empty."))
    name = filetypes.safe_name(name)
    found = filetypes.detect(data, name, max_chars=TEXT_CAP)
    cap = settings.ATTACHMENT_MAX_BYTES_PER_USER
    with transaction.atomic():
        quotas.lock([owner.pk])  # one upload of the user's at a time: two cannot both fit
        if cap and stored_bytes(owner_id=owner.pk) + len(data) > cap:
            raise StorageFull(
                format_lazy(
                    _(
                        "Your files take as much space as one may keep ({megabytes} MB). "
                        "Delete some conversations with files to attach more."
                    ),
                    megabytes=megabytes(cap),
                )
            )
        attachment = Attachment(
            owner=owner,
            name=name,
            size=len(data),
            kind=found.kind,
            mime=found.mime,
            text=found.text,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        attachment.file.save(f"{owner.pk}/{uuid.uuid4().hex}", ContentFile(data), save=False)
        try:
            attachment.save()
        except BaseException:
            attachment.file.delete(save=False)
            raise
    return attachment


def attachment_get(*, user: User, attachment_id: object) -> Attachment:
    """The attachment, if `user` owns it, or is staff and it was sent in a conversation
    (staff fetches are audited: `audit_fetch`); Attachment.DoesNotExist otherwise
    (another user's file is not found, never forbidden)."""
    pk = as_uuid(attachment_id)
    rows = Attachment.objects.all()
    if user.is_staff:
        rows = rows.filter(Q(owner=user) | Q(conversation__isnull=False))
    else:
        rows = rows.filter(owner=user)
    if pk is None:
        raise Attachment.DoesNotExist
    return rows.get(pk=pk)


def as_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def audit_fetch(*, actor: User, attachment: Attachment) -> None:
    """A staff member fetched another user's file: audited like a look at its
    conversation's text."""
    if attachment.owner_id != actor.pk and attachment.conversation_id is not None:
        services.audit_record(
            actor=actor,
            action=AuditEvent.Action.VIEW_FILE,
            conversation_ids=[attachment.conversation_id],
            detail=f"file={attachment.pk} {attachment.name}",
        )


def attachment_delete_unsent(*, owner: User, attachment_id: object) -> None:
    """Delete one of `owner`'s files not yet sent with a message; DoesNotExist when
    there is none such (a sent one goes with its conversation)."""
    attachment = attachment_get(user=owner, attachment_id=attachment_id)
    if attachment.owner_id != owner.pk or attachment.message_id is not None:
        raise Attachment.DoesNotExist
    attachment.delete()


UNSENT_BATCH = 500


def attachments_delete_unsent_old(*, hours: float) -> int:
    """Delete the files uploaded more than `hours` ago and never sent with a message
    (the periodic sweep): a tab closed with files in its tray leaves them, and they
    count against their owner's storage. A file being sent now is locked by that send
    (attachments_for_send) and skipped."""
    cutoff = Now() - timedelta(hours=hours)
    deleted = 0
    while True:
        with transaction.atomic():
            batch = list(
                Attachment.objects.select_for_update(skip_locked=True)
                .filter(message__isnull=True, created__lt=cutoff)
                .values_list("pk", flat=True)[:UNSENT_BATCH]
            )
            if not batch:
                break
            for attachment in Attachment.objects.filter(pk__in=batch):
                attachment.delete()  # its stored file goes after the commit
        deleted += len(batch)
    if deleted:
        logger.info("deleted %d attached files never sent", deleted)
    return deleted


def attachments_for_send(*, owner: User, ids: list[str]) -> list[Attachment]:
    """`owner`'s unsent attachments named by `ids`, in that order; a Refusal
    `not_found` when one is not theirs, unknown or already sent, `invalid` when
    there are more than ATTACHMENT_MAX_PER_MESSAGE."""
    most = settings.ATTACHMENT_MAX_PER_MESSAGE
    if len(ids) > most:
        raise Refusal(
            ErrorCode.INVALID,
            format_lazy(_("A message may carry at most {count} files."), count=most),
        )
    parsed = list(dict.fromkeys(as_uuid(i) for i in ids))
    wanted = [pk for pk in parsed if pk is not None]
    if len(wanted) != len(parsed):
        raise Refusal(ErrorCode.NOT_FOUND, NO_SUCH_FILE)
    # Locked until the question is saved: a second send of the same file waits, then
    # finds it sent (not_found). Called inside the exchange's transaction.
    rows = Attachment.objects.select_for_update().filter(
        owner=owner, message__isnull=True, pk__in=wanted
    )
    found = {a.pk: a for a in rows}
    if len(found) != len(wanted):
        raise Refusal(ErrorCode.NOT_FOUND, NO_SUCH_FILE)
    return [found[i] for i in wanted]


def attachments_attach(*, attachments: list[Attachment], message: Message) -> None:
    """Tie the files to the user message that carries them."""
    ids = [a.pk for a in attachments]
    Attachment.objects.filter(pk__in=ids, message__isnull=True).update(
        message=message, conversation_id=message.conversation_id
    )
    for attachment in attachments:
        attachment.message, attachment.conversation_id = message, message.conversation_id
    message.files = list(attachments)


def attachment_read(attachment: Attachment) -> bytes:
    with attachment.file.open("rb") as handle:
        return bytes(handle.read())


@receiver(post_delete, sender=Attachment)
def attachment_deleted(sender: type[Attachment], instance: Attachment, **kwargs: object) -> None:
    """Runs when an attachment's row is deleted (alone, or with its conversation or
    account): its stored file goes once the deletion is committed."""
    storage, name = instance.file.storage, instance.file.name
    if not name:
        return

    def remove() -> None:
        try:
            storage.delete(name)
        except OSError:
            logger.exception("could not delete the stored file %s", name)

    transaction.on_commit(remove)


def model_parts(*, message_id: uuid.UUID | str, images: bool) -> list[dict[str, object]]:
    """What the model is sent of the files attached to the question `message_id`,
    after its text: each text or PDF file as a text part "File <name>:" and its text,
    all within ATTACHMENT_TEXT_CHAR_BUDGET (a file cut says so); each image as an
    `image_url` part holding a data URL when the model reads images (`images`), else
    a text part naming it."""
    rows = Attachment.objects.filter(message_id=message_id).order_by("created", "pk")
    parts: list[dict[str, object]] = []
    left = max(settings.ATTACHMENT_TEXT_CHAR_BUDGET, 0)
    for attachment in rows:
        if attachment.kind == Attachment.Kind.IMAGE:
            if images:
                data = base64.b64encode(attachment_read(attachment)).decode("ascii")
                url = f"data:{attachment.mime};base64,{data}"
                parts.append({"type": "image_url", "image_url": {"url": url}})
            else:
                parts.append({"type": "text", "text": f"[Image {attachment.name} not shown]"})
            continue
        text = attachment.text
        if len(text) > left:
            text = text[:left] + CUT_NOTICE.format(chars=left)
        left -= min(len(attachment.text), left)
        parts.append({"type": "text", "text": f"File {attachment.name}:\n{text}"})
    return parts


# Told to the model (in English, as the system prompt is), not to the user.
CUT_NOTICE = "\n[… cut: the file is longer than {chars} characters]"


def images_refusal(*, attachments: list[Attachment], model_label: str, images: bool) -> None:
    """A Refusal `invalid` when an image goes to a model that does not read images."""
    if not images and any(a.kind == Attachment.Kind.IMAGE for a in attachments):
        raise Refusal(
            ErrorCode.INVALID,
            format_lazy(_("The model {model} does not read images."), model=model_label),
        )
