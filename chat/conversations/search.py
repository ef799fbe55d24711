"""Search over one user's own conversations: their titles and their messages' text.

Reads only, like selectors.py. On PostgreSQL: full-text search with the `simple`
configuration (no stemming, no stop words: users write many languages), every word
whole except the last, which is a prefix while it is being typed; the expressions are
those of the GIN indexes of migration 0007, so the planner can use them. Any other
database: `icontains`, every word a substring. Snippets and highlights are computed
here for both, as plain text plus character ranges: no markup from a message ever
reaches the page as HTML (search.js builds text nodes and <mark> elements).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import QuerySet

from chat.models import Conversation, Message

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from chat.models import User

MAX_QUERY_CHARS = 200
MAX_TERMS = 8
RESULT_LIMIT = 30
SNIPPET_CHARS = 160
SNIPPET_LEAD = 40  # characters of context kept before the first match

# A word, as PostgreSQL's parser and this module agree on it: letters and digits.
WORD = re.compile(r"[^\W_]+")
NOT_WORD_BEFORE = r"(?<![^\W_])"
NOT_WORD_AFTER = r"(?![^\W_])"


@dataclass(frozen=True)
class Term:
    text: str  # lower case, letters and digits only
    prefix: bool  # matches words that start with it (the word being typed)


@dataclass(frozen=True)
class SearchHit:
    conversation_id: str
    conversation_title: str
    message_id: str | None  # None: the conversation's title matched
    role: str | None
    snippet: str
    highlights: list[tuple[int, int]]  # [start, end) in code points of `snippet`
    created: datetime  # the message's; for a title hit, the conversation's last activity

    def to_dict(self) -> dict[str, object]:
        return {
            "conversation_id": self.conversation_id,
            "conversation_title": self.conversation_title,
            "message_id": self.message_id,
            "role": self.role,
            "snippet": self.snippet,
            "highlights": [list(span) for span in self.highlights],
            "created": self.created.isoformat(),
        }


# --- Pure helpers -------------------------------------------------------------------


def parse_query(query: str) -> list[Term]:
    """The words of a query, lower case, each once, at most MAX_TERMS. The last is a
    prefix unless the query ends after it (a space or punctuation: the word is done)."""
    words = list(dict.fromkeys(WORD.findall(query.lower())))[:MAX_TERMS]
    typing = bool(query) and bool(WORD.fullmatch(query[-1]))
    return [
        Term(word, prefix=typing and index == len(words) - 1) for index, word in enumerate(words)
    ]


def tsquery(terms: list[Term]) -> str:
    """The terms as a to_tsquery() string: all of them (`&`), the prefix one with `:*`.
    A term is letters and digits only, so quoting it cannot be escaped from."""
    return " & ".join(f"'{t.text}'" + (":*" if t.prefix else "") for t in terms)


def match_pattern(terms: list[Term], *, whole_words: bool) -> re.Pattern[str]:
    """What to highlight. whole_words (full-text search): a term from the start of a
    word to its end, a prefix term from the start of a word; else any substring."""
    parts = []
    for term in sorted(terms, key=lambda t: len(t.text), reverse=True):  # longest first
        part = re.escape(term.text)
        if whole_words:
            part = NOT_WORD_BEFORE + part + ("" if term.prefix else NOT_WORD_AFTER)
        parts.append(part)
    return re.compile("|".join(parts) or r"(?!)", re.IGNORECASE)


def snippet(
    text: str, pattern: re.Pattern[str], *, width: int = SNIPPET_CHARS
) -> tuple[str, list[tuple[int, int]]]:
    """About `width` characters of `text` (white space collapsed) around its first match,
    cut at spaces where it can be, with `…` where text was left out; and the [start,
    end) ranges of the matches within it."""
    flat = " ".join(text.split())
    first = pattern.search(flat)
    # Some context before the first match, but no shorter a snippet than the text allows.
    start = max(0, min(first.start() - SNIPPET_LEAD, len(flat) - width)) if first else 0
    if first and start > 0:
        space = flat.find(" ", start, first.start())
        if space != -1:
            start = space + 1
    end = min(len(flat), start + width)
    if end < len(flat):
        space = flat.rfind(" ", first.end() if first else start, end)
        if space > start:
            end = space
    lead = "…" if start > 0 else ""
    tail = "…" if end < len(flat) else ""
    spans = [
        (m.start() - start + len(lead), min(m.end(), end) - start + len(lead))
        for m in pattern.finditer(flat, start, end)
        if m.end() > m.start()
    ]
    return lead + flat[start:end] + tail, spans


# --- Queries --------------------------------------------------------------------------


def conversation_search(
    *, user: User | AnonymousUser, query: str, limit: int = RESULT_LIMIT
) -> list[SearchHit]:
    """The user's own titles and messages that match `query`, newest first, at most
    `limit`. Full-text search on PostgreSQL, the substring fallback elsewhere."""
    terms = parse_query(query)
    if not terms or not user.is_authenticated:
        return []
    if connection.vendor == "postgresql":
        return search_fulltext(user=user, terms=terms, limit=limit)
    return search_fallback(user=user, terms=terms, limit=limit)


def search_fulltext(*, user: User, terms: list[Term], limit: int) -> list[SearchHit]:
    """PostgreSQL only: the indexed expressions of migration 0007."""
    from django.contrib.postgres.search import SearchQuery, SearchVector

    query = SearchQuery(tsquery(terms), search_type="raw", config="simple")
    titles = (
        Conversation.objects.filter(owner=user, expires__isnull=True)
        .annotate(found=SearchVector("title", config="simple"))
        .filter(found=query)
    )
    messages = (
        Message.objects.filter(conversation__owner=user, conversation__expires__isnull=True)
        .annotate(found=SearchVector("content", config="simple"))
        .filter(found=query)
    )
    return _hits(titles, messages, match_pattern(terms, whole_words=True), limit)


def search_fallback(*, user: User, terms: list[Term], limit: int) -> list[SearchHit]:
    """Any database: every term a case-insensitive substring (a scan, no index)."""
    titles = Conversation.objects.filter(owner=user, expires__isnull=True)  # temporary: never
    messages = Message.objects.filter(conversation__owner=user, conversation__expires__isnull=True)
    for term in terms:
        titles = titles.filter(title__icontains=term.text)
        messages = messages.filter(content__icontains=term.text)
    return _hits(titles, messages, match_pattern(terms, whole_words=False), limit)


def _hits(
    titles: QuerySet[Conversation],
    messages: QuerySet[Message],
    pattern: re.Pattern[str],
    limit: int,
) -> list[SearchHit]:
    hits = []
    for pk, title, updated in titles.order_by("-updated").values_list("pk", "title", "updated")[
        :limit
    ]:
        text, spans = snippet(title, pattern)
        hits.append(SearchHit(str(pk), title, None, None, text, spans, updated))
    rows = messages.order_by("-created").values_list(
        "pk", "conversation_id", "conversation__title", "role", "content", "created"
    )[:limit]
    for pk, conversation_id, title, role, content, created in rows:
        text, spans = snippet(content, pattern)
        hits.append(SearchHit(str(conversation_id), title, str(pk), role, text, spans, created))
    hits.sort(key=lambda hit: hit.created, reverse=True)
    return hits[:limit]
