"""A user's conversations out: our JSON (every message, the whole tree), Markdown (the
branch shown) and, for the whole account, a zip of both, as async iterators that
never hold a whole file (chat/conversations/streams.py): rows are read in chunks and
the zip is written to a sink emptied after every write. Only the owner's rows are
ever read: every query is filtered by `owner_id`.
"""

from __future__ import annotations

import json
import re
import uuid
import zipfile
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import QuerySet

from chat.conversations import selectors
from chat.conversations.porting.drafts import FORMAT, VERSION
from chat.conversations.serializers import attachment_to_dict, feedback_to_dict
from chat.conversations.streams import in_pieces, rows_in_chunks
from chat.models import Conversation, Message, Summary

# Messages read at a time: a user's answers may be long (up to CHAT_MAX_ANSWER_CHARS,
# more when imported), so fewer than the admin's rows: 100 of 10 KB hold 1 MB or so.
MESSAGE_ROWS = 100


def conversation_head(conversation: Conversation) -> dict[str, Any]:
    """A conversation in our format, without its messages."""
    return {
        "id": str(conversation.pk),
        "title": conversation.title,
        "model": conversation.model,
        "instructions": conversation.instructions,
        "temperature": conversation.temperature,
        "created": conversation.created.isoformat(),
        "updated": conversation.updated.isoformat(),
        "current_leaf": str(conversation.leaf_id) if conversation.leaf_id else None,
    }


def message_entry(message: Message) -> dict[str, Any]:
    """A message in our format: its place in the tree (`parent_id`), what it said and,
    when it carries files, what they are (their content stays on the server)."""
    entry: dict[str, Any] = {
        "id": str(message.pk),
        "parent_id": str(message.parent_id) if message.parent_id else None,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "created": message.created.isoformat(),
        "model": message.model_name,
        "finish_reason": message.finish_reason,
        "error": message.error,
        "error_code": message.error_code,
        "usage": message.usage,
        "feedback": feedback_to_dict(message) if message.role == "assistant" else None,
    }
    if files := getattr(message, "files", None):
        entry["attachments"] = [{**attachment_to_dict(a), "sha256": a.sha256} for a in files]
    return entry


def summary_entry(summary: Summary) -> dict[str, Any]:
    """A long conversation's summary (issue #25): up to which message it stands in for
    the older turns, and whether it was written, failed, edited or cleared."""
    return {
        "text": summary.text,
        "covers_up_to": str(summary.covers_id),
        "status": summary.status,
        "edited": summary.edited,
    }


def owned(owner_id: int, conversation_id: uuid.UUID | None = None) -> QuerySet[Conversation]:
    conversations = Conversation.objects.filter(owner_id=owner_id)
    if conversation_id is not None:
        conversations = conversations.filter(pk=conversation_id)
    return conversations.order_by("created", "id")


def export_json(*, owner_id: int, conversation_id: uuid.UUID | None = None) -> AsyncGenerator[str]:
    """Our JSON of the owner's conversations (or of one), oldest first, streamed."""
    return in_pieces(_json_texts(owner_id, conversation_id))


async def _json_texts(owner_id: int, conversation_id: uuid.UUID | None) -> AsyncGenerator[str]:
    # Three cursors in the same order, merged: each conversation, its messages, its summaries.
    conversations = owned(owner_id, conversation_id)
    in_order = ("conversation__created", "conversation_id", "created", "id")
    messages = rows_in_chunks(
        Message.objects.filter(conversation__in=conversations.values("pk"))
        .select_related("feedback")
        .order_by(*in_order),
        MESSAGE_ROWS,
    )
    summaries = rows_in_chunks(
        Summary.objects.filter(conversation__in=conversations.values("pk")).order_by(*in_order),
        MESSAGE_ROWS,
    )
    exported = datetime.now(UTC).isoformat()
    with_files = await sync_to_async(selectors.conversations_with_files)(conversations)
    async with (
        aclosing(messages),
        aclosing(summaries),
        aclosing(rows_in_chunks(conversations)) as heads,
    ):
        pending = await anext(messages, None)
        summary = await anext(summaries, None)
        yield json.dumps({"format": FORMAT, "version": VERSION, "exported": exported})[:-1]
        yield ', "conversations": ['
        index = 0
        async for conversation in heads:
            head = json.dumps(conversation_head(conversation), ensure_ascii=False)[:-1]
            yield ("," if index else "") + "\n" + head + ', "messages": ['
            first = True
            files = {}
            if conversation.pk in with_files:
                read = sync_to_async(selectors.files_by_message)
                files = await read(conversation_id=conversation.pk)
            while pending is not None and pending.conversation_id == conversation.pk:
                pending.files = files.get(pending.pk, [])
                yield ("" if first else ",\n") + json.dumps(
                    message_entry(pending), ensure_ascii=False
                )
                first = False
                pending = await anext(messages, None)
            entries = []
            while summary is not None and summary.conversation_id == conversation.pk:
                entries.append(summary_entry(summary))
                summary = await anext(summaries, None)
            yield '], "summaries": ' + json.dumps(entries, ensure_ascii=False) + "}"
            index += 1
        yield "\n]}\n"


def export_markdown(*, conversation: Conversation) -> AsyncGenerator[str]:
    """The branch the conversation shows, as Markdown, streamed."""
    return in_pieces(_markdown_texts(conversation))


def _path_rows(conversation_id: uuid.UUID) -> tuple[Any, list[str]]:
    return selectors.current_path(conversation_id=conversation_id)


def _messages(conversation_id: uuid.UUID, ids: list[str]) -> dict[str, Message]:
    found = list(Message.objects.filter(conversation_id=conversation_id, pk__in=ids))
    selectors.with_files(found)
    return {str(m.pk): m for m in found}


async def _markdown_texts(conversation: Conversation) -> AsyncGenerator[str]:
    tree, path = await sync_to_async(_path_rows)(conversation.pk)
    yield markdown_head(conversation)
    for start in range(0, len(path), MESSAGE_ROWS):
        ids = path[start : start + MESSAGE_ROWS]
        found = await sync_to_async(_messages)(conversation.pk, ids)
        for message_id in ids:
            if message_id in found:
                siblings = tree.siblings(message_id)
                yield markdown_message(
                    found[message_id], siblings.index(message_id) + 1, len(siblings)
                )


def markdown_head(conversation: Conversation) -> str:
    lines = [f"# {one_line(conversation.title) or 'Untitled conversation'}", ""]
    lines.append(f"- Created: {conversation.created:%Y-%m-%d %H:%M} UTC")
    if conversation.model:
        lines.append(f"- Model: {conversation.model}")
    if conversation.temperature is not None:
        lines.append(f"- Temperature: {conversation.temperature}")
    if conversation.instructions:
        lines += ["", "Instructions:", ""]
        lines += [f"> {line}" for line in conversation.instructions.splitlines()]
    return "\n".join(lines) + "\n\n---\n\n"


def markdown_message(message: Message, version: int, versions: int) -> str:
    """One message of the branch: who, which version of how many, the text as it is
    (it is Markdown already)."""
    who = "You" if message.role == "user" else "Assistant"
    if message.role == "assistant" and message.model_name:
        who += f" ({message.model_name})"
    if versions > 1:
        who += f" · version {version} of {versions}"
    note = ""
    if message.status == "stopped":
        note = "\n\n*(stopped)*"
    elif message.status == "error":
        note = f"\n\n*(error: {one_line(message.error) or message.error_code})*"
    files = "".join(
        f"\n- Attached: {one_line(a.name)} ({a.kind}, {a.size:,} bytes)"
        for a in getattr(message, "files", [])
    )
    if files:
        files = "\n" + files
    return f"## {who}\n\n{message.content}{files}{note}\n\n"


def one_line(text: str) -> str:
    return " ".join(text.split())


# --- The whole account: a zip ----------------------------------------------------


class Sink:
    """A write-only, unseekable file for zipfile: what it wrote is taken after each
    write, so the archive is never held (zipfile writes data descriptors then)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def markdown_name(conversation: Conversation) -> str:
    """`markdown/2026-12-07 Title 1a2b3c4d.md`: unique (the id), safe on any disk."""
    title = UNSAFE.sub("-", one_line(conversation.title)).strip(" .-")[:60] or "Untitled"
    return f"markdown/{conversation.created:%Y-%m-%d} {title} {str(conversation.pk)[:8]}.md"


def export_zip(*, owner_id: int) -> AsyncGenerator[bytes]:
    """`conversations.json` (our JSON of everything) and one Markdown file per
    conversation, zipped as they are read."""
    return _zip_pieces(owner_id)


async def _zip_pieces(owner_id: int) -> AsyncGenerator[bytes]:
    sink = Sink()
    when = datetime.now(UTC).timetuple()[:6]
    with zipfile.ZipFile(sink, "w") as archive:
        async for name, texts in _entries(owner_id):
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as entry:
                async with aclosing(texts):
                    async for text in texts:
                        entry.write(text.encode())
                        if data := sink.take():
                            yield data
            yield sink.take()
    yield sink.take()


async def _entries(owner_id: int) -> AsyncGenerator[tuple[str, AsyncGenerator[str]]]:
    yield "conversations.json", export_json(owner_id=owner_id)
    async with aclosing(rows_in_chunks(owned(owner_id))) as conversations:
        async for conversation in conversations:
            yield markdown_name(conversation), export_markdown(conversation=conversation)
