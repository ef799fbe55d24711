"""Pinned and archived conversations (issue #22) through the JSON API, with the real
database and, for the tabs, a real channel layer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from chat.models import Conversation, Message
from tests.integration.conftest import make_conversation, make_user, open_socket, receive


@pytest.fixture
def user() -> Any:
    return get_user_model().objects.create_user("alice", password="x-pass-123")


@pytest.fixture
def alice(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def patch(client: Client, conversation: Conversation, body: Any) -> Any:
    return client.patch(
        f"/api/conversations/{conversation.pk}/", body, content_type="application/json"
    )


def listed(client: Client, query: str = "") -> list[str]:
    response = client.get(f"/api/conversations/{query}")
    assert response.status_code == 200, response.content
    return [c["title"] for c in response.json()["conversations"]]


def made(owner: Any, title: str, hours_ago: float) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title=title)
    when = timezone.now() - timedelta(hours=hours_ago)
    Conversation.objects.filter(pk=conversation.pk).update(updated=when)
    conversation.refresh_from_db()
    return conversation


@pytest.mark.django_db
def test_pin_unpin_archive_unarchive(alice: Client, user: Any) -> None:
    """Each PATCH answers the conversation with `pinned` and `archived` as booleans;
    archiving unpins; pinning again keeps the first pin's time; none of it touches
    `updated` (the list's order by last use)."""
    conversation = made(user, "Trip", hours_ago=2)
    before = conversation.updated
    answer = patch(alice, conversation, {"pinned": True})
    assert answer.status_code == 200
    assert (answer.json()["pinned"], answer.json()["archived"]) == (True, False)
    pinned_at = Conversation.objects.get(pk=conversation.pk).pinned
    assert pinned_at is not None
    assert patch(alice, conversation, {"pinned": True}).json()["pinned"] is True
    again = Conversation.objects.get(pk=conversation.pk)
    assert again.pinned == pinned_at and again.updated == before

    answer = patch(alice, conversation, {"archived": True})
    assert (answer.json()["pinned"], answer.json()["archived"]) == (False, True)
    saved = Conversation.objects.get(pk=conversation.pk)
    assert saved.pinned is None and saved.archived is not None and saved.updated == before
    assert alice.get(f"/api/conversations/{conversation.pk}/").json()["archived"] is True

    answer = patch(alice, conversation, {"archived": False})
    assert (answer.json()["pinned"], answer.json()["archived"]) == (False, False)
    answer = patch(alice, conversation, {"pinned": True, "title": "Kyoto"})
    assert (answer.json()["title"], answer.json()["pinned"]) == ("Kyoto", True)
    assert patch(alice, conversation, {"pinned": False}).json()["pinned"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [{"pinned": "yes"}, {"pinned": None}, {"archived": 1}, {"archived": "false"}],
)
def test_a_non_boolean_is_a_400_naming_the_field(alice: Client, user: Any, body: dict) -> None:
    conversation = made(user, "Trip", hours_ago=1)
    answer = patch(alice, conversation, {**body, "title": "changed"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == list(body)
    saved = Conversation.objects.get(pk=conversation.pk)
    assert (saved.title, saved.pinned, saved.archived) == ("Trip", None, None)


@pytest.mark.django_db
def test_the_list_has_the_pinned_first_and_the_archived_apart(alice: Client, user: Any) -> None:
    _old, new, first, last = (
        made(user, t, h) for t, h in [("old", 3), ("new", 1), ("a", 4), ("b", 5)]
    )
    gone = made(user, "gone", 0.5)
    for conversation in (first, last):  # pinned in this order: the later one on top
        assert patch(alice, conversation, {"pinned": True}).status_code == 200
    assert patch(alice, gone, {"archived": True}).status_code == 200
    assert listed(alice) == ["b", "a", "new", "old"]
    assert listed(alice, "?archived=0") == ["b", "a", "new", "old"]
    assert listed(alice, "?archived=1") == ["gone"]
    Message.objects.create(conversation=new, role="user", content="hi")
    assert listed(alice, "?started=1") == ["new"]
    answer = alice.get("/api/conversations/?archived=yes")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_request"


@pytest.mark.django_db
def test_search_still_finds_an_archived_conversation(alice: Client, user: Any) -> None:
    conversation = made(user, "Hokkaido", 1)
    Message.objects.create(conversation=conversation, role="user", content="snow festival")
    assert patch(alice, conversation, {"archived": True}).status_code == 200
    for query in ("hokkaido", "festival"):
        hits = alice.get("/api/search/", {"q": query}).json()["results"]
        assert [h["conversation_id"] for h in hits] == [str(conversation.pk)]


@pytest.mark.django_db
def test_another_users_conversation_is_a_404_and_stays_as_it_was(alice: Client) -> None:
    bob = get_user_model().objects.create_user("bob", password="x-pass-123")
    theirs = made(bob, "bob's", 1)
    for body in ({"pinned": True}, {"archived": True}):
        answer = patch(alice, theirs, body)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
    saved = Conversation.objects.get(pk=theirs.pk)
    assert (saved.pinned, saved.archived) == (None, None)
    assert listed(alice, "?archived=1") == []


@pytest.mark.django_db
def test_the_chat_page_links_the_archived_list_and_back(alice: Client) -> None:
    page = alice.get("/")
    assert page.context["config"]["list_archived"] is False
    assert b'href="/?archived=1">Archived</a>' in page.content
    page = alice.get("/", {"archived": "1"})
    assert page.context["config"]["list_archived"] is True
    assert b'id="list-archived" href="/">Your chats</a>' in page.content


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("redis_layer")
async def test_every_open_tab_hears_of_a_pin_or_an_archive() -> None:
    """As with a rename: each tab of the conversation gets a `conversation` frame with
    `pinned` and `archived` (the page's sidebar reads its list again)."""
    user = await make_user()
    conversation = await make_conversation(user)
    tabs = [await open_socket(user, conversation) for _ in range(2)]
    for tab in tabs:
        history = await receive(tab)
        assert (history["conversation"]["pinned"], history["conversation"]["archived"]) == (
            False,
            False,
        )
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    for body, marks in (({"pinned": True}, (True, False)), ({"archived": True}, (False, True))):
        answer = await database_sync_to_async(patch)(client, conversation, body)
        assert answer.status_code == 200
        for tab in tabs:
            frame = await receive(tab)
            assert frame["type"] == "conversation"
            assert (frame["conversation"]["pinned"], frame["conversation"]["archived"]) == marks
    for tab in tabs:
        await tab.disconnect()
