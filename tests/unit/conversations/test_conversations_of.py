"""selectors.conversations_of: the SSE door's conversation reads of a burst, in one
query, each pair answered as conversation_get answers it alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.conversations import selectors, services
from chat.models import Conversation

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_each_pair_is_answered_as_alone_in_one_query() -> None:
    ada, bob = User.objects.create_user("ada"), User.objects.create_user("bob")
    mine = services.conversation_create(owner=ada)
    his = services.conversation_create(owner=bob)
    gone = services.conversation_create(owner=ada)
    Conversation.objects.filter(pk=gone.pk).update(expires=timezone.now() - timedelta(seconds=1))
    asks: list[tuple[Any, Any]] = [
        (ada, mine.pk),  # own
        (ada, str(mine.pk)),  # own, asked again (as text)
        (ada, his.pk),  # another's
        (ada, gone.pk),  # a temporary one past its time
        (ada, "not-a-uuid"),
        (AnonymousUser(), mine.pk),
        (bob, his.pk),
    ]
    with CaptureQueriesContext(connection) as queries:
        found = selectors.conversations_of(asks)
    assert len(queries) == 1
    for (user, conversation_id), outcome in zip(asks, found, strict=True):
        try:
            alone: Any = selectors.conversation_get(user=user, conversation_id=conversation_id)
        except Conversation.DoesNotExist as exc:
            alone = exc
        if isinstance(alone, Exception):
            assert isinstance(outcome, Conversation.DoesNotExist)
        else:
            assert isinstance(outcome, Conversation) and outcome.pk == alone.pk
    assert [isinstance(o, Conversation) for o in found] == [1, 1, 0, 0, 0, 0, 1]
    assert found[0] is not found[1]  # each request its own instance


def test_nothing_to_read_asks_nothing() -> None:
    with CaptureQueriesContext(connection) as queries:
        found = selectors.conversations_of([(AnonymousUser(), "x")])
    assert len(queries) == 0 and isinstance(found[0], Conversation.DoesNotExist)
