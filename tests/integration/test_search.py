"""Conversation search over the real database: the selector, its index, and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from chat.conversations import search
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


def chat(owner, title: str, *texts: str, age_minutes: int = 0) -> list[Message]:
    """A conversation whose messages alternate user / assistant, oldest first."""
    conversation = Conversation.objects.create(owner=owner, title=title)
    messages = []
    for index, text in enumerate(texts):
        message = Message.objects.create(
            conversation=conversation, role="assistant" if index % 2 else "user", content=text
        )
        created = timezone.now() - timedelta(minutes=age_minutes) + timedelta(seconds=index)
        Message.objects.filter(pk=message.pk).update(created=created)
        message.created = created
        messages.append(message)
    last_activity = timezone.now() - timedelta(minutes=age_minutes, seconds=-len(texts))
    Conversation.objects.filter(pk=conversation.pk).update(updated=last_activity)
    return messages


def found(hits: list[search.SearchHit]) -> list[tuple[str | None, str]]:
    """(message id or None for a title, the highlighted words) of each hit."""
    return [(h.message_id, " ".join(h.snippet[a:b] for a, b in h.highlights)) for h in hits]


def test_finds_message_text_and_titles_newest_first(alice) -> None:
    old = chat(
        alice, "Holiday plans", "Where should we go in Lisbon?", "Try Alfama.", age_minutes=60
    )
    new = chat(alice, "Groceries", "Buy bread", "And cheese from Lisbon.", age_minutes=5)
    lisbon_title = chat(alice, "Lisbon trip", "Flights?", age_minutes=30)[0].conversation
    hits = search.conversation_search(user=alice, query="lisbon")
    assert found(hits) == [
        (str(new[1].pk), "Lisbon"),
        (None, "Lisbon"),
        (str(old[0].pk), "Lisbon"),
    ]
    assert hits[1].conversation_id == str(lisbon_title.pk) and hits[1].role is None
    assert hits[0].conversation_title == "Groceries" and hits[0].role == "assistant"
    assert hits[2].role == "user"


def test_every_word_must_match(alice) -> None:
    both = chat(alice, "t", "red apples and green pears", "red cars")[0]
    assert found(search.conversation_search(user=alice, query="red pears ")) == [
        (str(both.pk), "red pears")
    ]


def test_the_last_word_is_a_prefix_while_typing(alice) -> None:
    (message,) = chat(alice, "t", "Kubernetes deployment notes")
    assert found(search.conversation_search(user=alice, query="kube")) == [
        (str(message.pk), "Kube")
    ]
    assert found(search.conversation_search(user=alice, query="deploy notes")) == []
    assert search.conversation_search(user=alice, query="kube ") == []  # a finished word


def test_many_languages_without_stemming(alice) -> None:
    (ja,) = chat(alice, "t", "明日 東京へ 行きます")
    (de,) = chat(alice, "t", "Die Straße ist lang")
    assert found(search.conversation_search(user=alice, query="東京")) == [(str(ja.pk), "東京")]
    assert search.conversation_search(user=alice, query="strasse") == []  # no stemming either
    assert found(search.conversation_search(user=alice, query="straße")) == [(str(de.pk), "Straße")]


def test_another_users_text_is_never_found(alice, bob) -> None:
    """Bob searches for Alice's exact words, her title and her message: nothing."""
    chat(alice, "Secret merger plan", "The zanzibar codeword is pelican")
    mine = chat(bob, "Bob's notes", "nothing here about birds")
    for query in ["zanzibar codeword pelican", "pelican", "secret merger", "pel"]:
        assert search.conversation_search(user=bob, query=query) == []
        assert search.search_fallback(user=bob, terms=search.parse_query(query), limit=30) == []
    assert found(search.conversation_search(user=bob, query="birds")) == [
        (str(mine[0].pk), "birds")
    ]
    assert len(search.conversation_search(user=alice, query="pelican")) == 1


def test_results_are_bounded(alice) -> None:
    chat(alice, "t", *[f"needle number {i}" for i in range(40)])
    hits = search.conversation_search(user=alice, query="needle")
    assert len(hits) == search.RESULT_LIMIT
    assert [h.created for h in hits] == sorted((h.created for h in hits), reverse=True)


def test_query_without_words_finds_nothing(alice) -> None:
    chat(alice, "t", "*** & | ! :*")
    assert search.conversation_search(user=alice, query="&|!:*'") == []


def test_fallback_finds_substrings_and_highlights_them(alice, bob) -> None:
    """The path SQLite takes, run here directly: icontains on the user's rows only."""
    (message,) = chat(alice, "String concatenation", "How do I concatenate strings?")
    chat(bob, "Concatenation", "concatenate for bob")
    hits = search.search_fallback(user=alice, terms=search.parse_query("CAT str"), limit=30)
    assert sorted(found(hits), key=str) == sorted(
        [(str(message.pk), "cat str"), (None, "Str cat")], key=str
    )
    assert {h.conversation_id for h in hits} == {str(message.conversation_id)}


def test_fulltext_query_uses_the_gin_index(alice) -> None:
    """The WHERE clause is the indexed expression: with sequential scans off, PostgreSQL
    reaches the messages through chat_message_content_search."""
    chat(alice, "t", "an indexed needle")
    terms = search.parse_query("needle")
    from django.contrib.postgres.search import SearchQuery, SearchVector

    query = SearchQuery(search.tsquery(terms), search_type="raw", config="simple")
    for model, field, index in [
        (Message, "content", "chat_message_content_search"),
        (Conversation, "title", "chat_conversation_title_search"),
    ]:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        queryset = model.objects.annotate(found=SearchVector(field, config="simple")).filter(
            found=query
        )
        assert index in queryset.explain(), queryset.explain()


# --- The API ----------------------------------------------------------------------------


def test_api_returns_the_users_hits(client, alice, bob) -> None:
    (message,) = chat(alice, "Trip", "Pack the umbrella")
    chat(bob, "Trip", "umbrella for bob")
    client.force_login(alice)
    response = client.get("/api/search/", {"q": "umbrel"})
    assert response.status_code == 200
    assert response.json() == {
        "query": "umbrel",
        "results": [
            {
                "conversation_id": str(message.conversation_id),
                "conversation_title": "Trip",
                "message_id": str(message.pk),
                "role": "user",
                "snippet": "Pack the umbrella",
                "highlights": [[9, 15]],
                "created": message.created.isoformat(),
            }
        ],
    }


def test_api_snippet_is_text_not_html(client, alice) -> None:
    """Markup in a message comes back as the characters it is, with only the matched
    word in the ranges: the page builds text nodes and <mark>s, never innerHTML."""
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)"> zebrafish'
    chat(alice, "<b>title</b>", evil)
    client.force_login(alice)
    (hit,) = client.get("/api/search/", {"q": "zebrafish"}).json()["results"]
    assert hit["snippet"] == evil and hit["conversation_title"] == "<b>title</b>"
    assert [hit["snippet"][a:b] for a, b in hit["highlights"]] == ["zebrafish"]


@pytest.mark.parametrize(
    ("params", "code"),
    [({}, "bad_request"), ({"q": "   "}, "bad_request"), ({"q": "x" * 201}, "too_long")],
)
def test_api_rejects_empty_and_too_long_queries(client, alice, params, code) -> None:
    client.force_login(alice)
    response = client.get("/api/search/", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_api_needs_login_and_only_get(client, alice) -> None:
    response = client.get("/api/search/", {"q": "anything"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    client.force_login(alice)
    assert client.post("/api/search/?q=x").status_code == 405
