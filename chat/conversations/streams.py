"""Reading many rows for a download without holding them: async iterators for
StreamingHttpResponse (the admin's transcript exports, a user's own exports).

Under ASGI Django streams an async iterator on the event loop (a sync one would be
drained in a thread, with a warning). Rows are read EXPORT_CHUNK_ROWS at a time, each
chunk in one `sync_to_async` call, and text goes out in pieces of about
EXPORT_PIECE_CHARS: whatever the selection, a download holds one chunk of rows and
one piece of text.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from itertools import islice
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import QuerySet

EXPORT_CHUNK_ROWS = 500
EXPORT_PIECE_CHARS = 64 * 1024


async def rows_in_chunks(
    queryset: QuerySet[Any], chunk_size: int = EXPORT_CHUNK_ROWS
) -> AsyncGenerator[Any]:
    """The queryset's rows, read `chunk_size` at a time (a server-side cursor on
    PostgreSQL). Each chunk is one thread-sensitive `sync_to_async` call: they all run
    on the request's thread, so the cursor stays on one database connection (the
    `db_call` pool would hand each chunk to another thread and connection)."""
    rows = queryset.iterator(chunk_size=chunk_size)
    take = sync_to_async(lambda: list(islice(rows, chunk_size)))
    try:
        while batch := await take():
            for row in batch:
                yield row
    finally:
        await sync_to_async(rows.close)()  # type: ignore[attr-defined]  # a generator  # the cursor, if the download stopped early


async def in_pieces(
    texts: AsyncGenerator[str], size: int = EXPORT_PIECE_CHARS
) -> AsyncGenerator[str]:
    """Many small strings joined into pieces of about `size` characters: one ASGI
    message per piece instead of one per row."""
    parts: list[str] = []
    length = 0
    async with aclosing(texts):
        async for text in texts:
            parts.append(text)
            length += len(text)
            if length >= size:
                yield "".join(parts)
                parts, length = [], 0
    if parts:
        yield "".join(parts)
