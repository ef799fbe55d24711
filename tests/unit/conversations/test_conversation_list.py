"""The sidebar's read, `selectors.conversation_list`: which conversations, in which
order. Against the real database (the order is the query's)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat.conversations.selectors import conversation_list
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

# name: (hours ago updated, hours ago pinned, hours ago archived, source, has a message)
ROWS = {
    "old": (3, None, None, "web", False),
    "new": (1, None, None, "web", True),
    "pinned-first": (0.5, 2, None, "web", False),  # used last, pinned before the other
    "pinned-last": (5, 1, None, "api", True),
    "archived-first": (0.1, None, 3, "web", False),
    "archived-last": (10, None, 1, "web", True),
    "from-v1": (0, None, None, "openai", False),
}


def ago(hours: float | None) -> Any:
    return None if hours is None else timezone.now() - timedelta(hours=hours)


@pytest.fixture
def alice() -> Any:
    User = get_user_model()
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    theirs = Conversation.objects.create(owner=bob, title="bob's")
    Conversation.objects.filter(pk=theirs.pk).update(pinned=ago(0))
    for title, (updated, pinned, archived, source, started) in ROWS.items():
        made = Conversation.objects.create(owner=alice, title=title, source=source)
        if started:
            Message.objects.create(conversation=made, role="user", content=title)
        # update(): `updated` is auto_now, which save() would set to now.
        Conversation.objects.filter(pk=made.pk).update(
            updated=ago(updated), pinned=ago(pinned), archived=ago(archived)
        )
    return alice


@pytest.mark.parametrize(
    ("asked", "listed"),
    [
        ({}, ["pinned-last", "pinned-first", "new", "old"]),
        ({"archived": True}, ["archived-last", "archived-first"]),
        ({"source": "all"}, ["pinned-last", "pinned-first", "from-v1", "new", "old"]),
        ({"source": "openai"}, ["from-v1"]),
        ({"source": "web"}, ["pinned-first", "new", "old"]),
        ({"started_only": True}, ["pinned-last", "new"]),
        ({"started_only": True, "archived": True}, ["archived-last"]),
    ],
)
def test_pinned_first_then_newest_and_the_archived_apart(
    alice: Any, asked: dict[str, Any], listed: list[str]
) -> None:
    """Pinned first (the most recently pinned first), then the rest newest first; the
    archived only when asked, and then only they (the most recently archived first);
    never another user's."""
    assert [c.title for c in conversation_list(user=alice, **asked)] == listed
