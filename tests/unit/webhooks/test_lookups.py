"""Which subscriptions receive an answer, for a burst of answers at once
(chat/webhooks/selectors.py `subscriptions_of_answers`): the same as asking for each,
in two queries."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import Conversation, WebhookSubscription
from chat.webhooks.selectors import subscriptions_of_answers

pytestmark = pytest.mark.django_db


def subscription(owner, conversation=None, *, active=True, mode="sentence") -> WebhookSubscription:
    return WebhookSubscription.objects.create(
        owner=owner,
        conversation=conversation,
        url="https://hooks.example.com/x",
        mode=mode,
        secret="s",
        active=active,
    )


def test_each_conversation_gets_its_own_and_its_owners_subscriptions_only() -> None:
    users = get_user_model().objects
    ada, bob = users.create_user("ada"), users.create_user("bob")
    a1, a2, b1 = (Conversation.objects.create(owner=o) for o in (ada, ada, bob))
    ada_all = subscription(ada, mode="line")
    a1_only = subscription(ada, a1)
    subscription(ada, a2, active=False)  # paused: receives nothing
    b1_only = subscription(bob, b1, mode="clause")
    bob_all = subscription(bob)
    gone = str(uuid.uuid4())  # a conversation deleted meanwhile
    asked = [str(a1.pk), str(a2.pk), str(b1.pk), gone, str(a1.pk)]
    row = {s.pk: (s.pk, s.mode, s.format) for s in (ada_all, a1_only, b1_only, bob_all)}
    expected = [
        [row[ada_all.pk], row[a1_only.pk]],
        [row[ada_all.pk]],
        [row[b1_only.pk], row[bob_all.pk]],
        [],
        [row[ada_all.pk], row[a1_only.pk]],
    ]
    with CaptureQueriesContext(connection) as queries:
        assert subscriptions_of_answers(asked) == expected
    assert len(queries) == 2
    assert [subscriptions_of_answers([c])[0] for c in asked] == expected  # each alone
