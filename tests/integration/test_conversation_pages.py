"""A conversation's own URL, and the list the chat page shows (issue #22): the page at
/c/<id>/ is its owner's only, and the sidebar lists conversations that have a message."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("alice", password="secret-pass-123")


@pytest.fixture
def alice(client: Client, user) -> Client:
    client.force_login(user)
    return client


def test_a_conversation_url_opens_the_chat_page_for_its_owner_only(alice: Client, user) -> None:
    """/c/<id>/ is the chat page with that conversation open; another's or a missing one
    answers 404 (the same page, which says it does not exist), saying nothing of it."""
    mine = Conversation.objects.create(owner=user, title="Mine")
    bob = get_user_model().objects.create_user("bob", password="secret-pass-123")
    theirs = Conversation.objects.create(owner=bob, title="Bob's secret plans")

    page = alice.get(f"/c/{mine.pk}/")
    assert page.status_code == 200
    assert f'"initial_conversation_id": "{mine.pk}"'.encode() in page.content

    for other in (theirs.pk, uuid.uuid4()):
        refused = alice.get(f"/c/{other}/")
        assert refused.status_code == 404
        assert b'id="chat-config"' in refused.content
        assert b"secret plans" not in refused.content
    assert Client().get(f"/c/{mine.pk}/").status_code == 302  # to the login page


def test_the_page_list_leaves_out_conversations_without_messages(alice: Client, user) -> None:
    """`?started=1` (the chat page's list): only conversations with a message, newest
    first; without it, every conversation, as scripts have always had it."""
    empty = Conversation.objects.create(owner=user, title="")
    started = Conversation.objects.create(owner=user, title="Started")
    Message.objects.create(conversation=started, role="user", content="Hello")

    listed = alice.get("/api/conversations/?started=1").json()["conversations"]
    assert [c["id"] for c in listed] == [str(started.pk)]
    everything = alice.get("/api/conversations/").json()["conversations"]
    assert {c["id"] for c in everything} == {str(empty.pk), str(started.pk)}
