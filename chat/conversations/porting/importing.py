"""An import written: all of it in one transaction, or nothing.

`read_file` turns the uploaded bytes into drafts (size first, then the format: ours
or ChatGPT's); `import_drafts` writes those the user has not imported before (by
`Draft.key`, stored on the conversation), checked against their storage limits under
their quota row's lock, so two imports of one file at once add it once. Rows get new
ids: a source's ids are read only as the tree's keys, and nothing but the new rows is
written, so no one else's data can be touched whatever the file says.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat import db
from chat.conversations import quotas
from chat.conversations.porting import chatgpt, ours
from chat.conversations.porting.drafts import Draft, DraftMessage, ImportInvalid, loads
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation, Feedback, Message

if TYPE_CHECKING:
    from chat.models import User


def too_big(size: int) -> Refusal | None:
    """A file over IMPORT_MAX_BYTES: `too_long` (413), with the bound."""
    most = settings.IMPORT_MAX_BYTES
    if size <= most:
        return None
    return Refusal(
        ErrorCode.TOO_LONG,
        format_lazy(
            _("The file is {size} MB; an import may be at most {most} MB."),
            size=f"{size / 1_000_000:.1f}",
            most=f"{most / 1_000_000:.1f}",
        ),
        max_bytes=most,
    )


def read_file(raw: bytes) -> list[Draft]:
    """The drafts of an uploaded file; a Refusal (`too_long`, `invalid`) otherwise."""
    refusal = too_big(len(raw))
    if refusal is not None:
        raise refusal
    if raw.startswith(ZIP_MAGIC):
        raw = from_zip(raw)
    data = loads(raw)
    if ours.is_ours(data):
        return ours.read_ours(data)
    if chatgpt.is_chatgpt(data):
        return chatgpt.read_chatgpt(data)
    raise ImportInvalid(
        "This is neither an export of this server (format chat-export) nor the "
        "conversations.json of a ChatGPT data export (or a zip holding one)."
    )


ZIP_MAGIC = b"PK\x03\x04"
ZIPPED_NAME = "conversations.json"


def from_zip(raw: bytes) -> bytes:
    """The `conversations.json` of a zip (ChatGPT's data export, or this server's
    account export), read only while it stays within IMPORT_MAX_BYTES (whatever the
    archive claims of its size)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == ZIPPED_NAME]
        if not names:
            raise ImportInvalid(f"The zip holds no {ZIPPED_NAME}.")
        name = min(names, key=len)  # the top-most one
        if (refusal := too_big(archive.getinfo(name).file_size)) is not None:
            raise refusal
        with archive.open(name) as entry:
            data = entry.read(settings.IMPORT_MAX_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise ImportInvalid(f"The zip cannot be read ({str(exc)[:120]}).") from None
    if (refusal := too_big(len(data))) is not None:
        raise refusal
    return data


@dataclass
class Imported:
    conversations: list[Conversation] = field(default_factory=list)
    already: int = 0  # conversations of the file imported before: left as they are
    messages: int = 0
    left_out: int = 0  # source nodes not imported (system, tool, hidden)


def import_drafts(*, owner: User, drafts: list[Draft]) -> Imported:
    """Write the drafts not imported before, atomically; StorageFull (nothing written)
    when they would take the user past CHAT_MAX_CONVERSATIONS_PER_USER or
    CHAT_MAX_STORED_BYTES_PER_USER."""
    result = Imported()
    with transaction.atomic():
        quotas.lock([owner.pk])  # a user's imports one at a time (answers' starts wait too)
        keys = {draft.key: draft for draft in drafts}
        done = set(
            Conversation.objects.filter(owner=owner, import_key__in=list(keys)).values_list(
                "import_key", flat=True
            )
        )
        new = [draft for key, draft in keys.items() if key not in done]
        result.already = len(drafts) - len(new)
        if not new:
            return result
        check_storage(owner_id=owner.pk, drafts=new)
        result.conversations = write_drafts(owner=owner, drafts=new)
        result.messages = sum(len(draft.messages) for draft in new)
        result.left_out = sum(draft.skipped for draft in new)
    return result


def check_storage(*, owner_id: int, drafts: list[Draft]) -> None:
    most = settings.CHAT_MAX_CONVERSATIONS_PER_USER
    if most:
        count = Conversation.objects.filter(owner_id=owner_id).count()
        if count + len(drafts) > most:
            raise quotas.StorageFull(
                format_lazy(
                    _(
                        "This import holds {adding} new conversations; you have {count} and "
                        "may keep {most}. Delete some, or import fewer."
                    ),
                    adding=len(drafts),
                    count=count,
                    most=most,
                )
            )
    cap = settings.CHAT_MAX_STORED_BYTES_PER_USER
    if cap:
        stored = quotas.stored_bytes([owner_id])[owner_id]
        adding = sum(draft.text_bytes for draft in drafts)
        if stored + adding > cap:
            raise quotas.StorageFull(
                format_lazy(
                    _(
                        "This import holds {adding} MB of text; your conversations hold "
                        "{stored} MB and may hold {cap} MB. Delete some, or import fewer."
                    ),
                    adding=f"{adding / 1_000_000:.1f}",
                    stored=f"{stored / 1_000_000:.1f}",
                    cap=f"{cap / 1_000_000:.0f}",
                )
            )


def write_drafts(*, owner: User, drafts: list[Draft]) -> list[Conversation]:
    """The conversations, their messages and feedback, a few statements for all of
    them; times as the drafts order them (`created` is auto_now_add: the inserts set
    it to now, one pipelined UPDATE per row sets the draft's, db.update_rows)."""
    conversations = [
        Conversation(
            id=uuid.uuid4(),
            owner=owner,
            title=draft.title,
            model=draft.model,  # the door keeps only a configured model's key
            instructions=draft.instructions,
            temperature=draft.temperature,
            import_key=draft.key,
        )
        for draft in drafts
    ]
    Conversation.objects.bulk_create(conversations, batch_size=BATCH)
    rows: list[Message] = []
    times: list[tuple[object, ...]] = []
    feedback: list[Feedback] = []
    heads: list[tuple[object, ...]] = []
    for conversation, draft in zip(conversations, drafts, strict=True):
        ids = {m.key: uuid.uuid4() for m in draft.messages}
        for m in draft.messages:
            rows.append(message_row(conversation, m, ids))
            times.append((m.created, ids[m.key]))
            if m.feedback is not None:
                rating = 1 if m.feedback["rating"] == "up" else -1
                feedback.append(
                    Feedback(message_id=ids[m.key], rating=rating, comment=m.feedback["comment"])
                )
        leaf = ids.get(draft.leaf) if draft.leaf is not None else None
        conversation.leaf_id = leaf or (ids[draft.messages[-1].key] if draft.messages else None)
        conversation.created = draft.created or conversation.created
        heads.append((conversation.leaf_id, conversation.created, conversation.pk))
    Message.objects.bulk_create(rows, batch_size=BATCH)
    db.update_rows(Message, ["created"], "", times)
    Feedback.objects.bulk_create(feedback, batch_size=BATCH)
    db.update_rows(Conversation, ["leaf", "created"], "", heads)
    return conversations


BATCH = 1000


def message_row(conversation: Conversation, m: DraftMessage, ids: dict[str, uuid.UUID]) -> Message:
    return Message(
        id=ids[m.key],
        conversation=conversation,
        parent_id=ids[m.parent] if m.parent is not None else None,
        role=m.role,
        content=m.content,
        status=m.status,
        model_name=m.model,
        finish_reason=m.finish_reason,
        error=m.error,
        error_code=m.error_code,
        **(m.usage or {}),
    )
