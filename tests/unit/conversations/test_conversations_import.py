"""services.conversations_import: a burst's new conversations (the /v1 door's) written
as conversation_import writes each alone, in a fixed number of statements."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.conversations import quotas, services
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

User = get_user_model()
TRANSACTION = ("BEGIN", "SAVEPOINT", "RELEASE")
HISTORY = [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello!"), ("user", "Bye")]


def saved(conversation: Conversation) -> tuple[Any, ...]:
    row = Conversation.objects.get(pk=conversation.pk)
    path = []
    leaf = Message.objects.filter(pk=row.leaf_id).first()
    while leaf is not None:
        path.append((leaf.role, leaf.content, leaf.supplied_by_client, leaf.status))
        leaf = Message.objects.filter(pk=leaf.parent_id).first()
    return (row.title, row.source, row.model, row.temperature, row.leaf_id is None, path[::-1])


@pytest.mark.parametrize("history", [HISTORY, []], ids=["with-history", "empty"])
def test_each_conversation_is_written_as_alone(history: list[tuple[str, str]]) -> None:
    ada = User.objects.create_user("ada")
    fields: dict[str, Any] = {"source": Conversation.Source.OPENAI, "temperature": 0.5}
    alone = services.conversation_import(owner=ada, history=history, title=" T ", **fields)
    imports = [services.Import(ada, history, " T ", fields) for _ in range(3)]
    together = services.conversations_import(imports)
    assert all(isinstance(c, Conversation) for c in together)
    assert len({c.pk for c in together}) == 3  # type: ignore[union-attr]
    for conversation in together:
        assert isinstance(conversation, Conversation)
        assert conversation.leaf_id == Conversation.objects.get(pk=conversation.pk).leaf_id
        assert saved(conversation) == saved(alone)


def test_a_burst_is_a_fixed_number_of_statements_and_counts_its_own(settings: Any) -> None:
    """Twenty imports of ten users with a limit of one conversation each: every user's
    first is written, their second refused as StorageFull, in the same statements."""
    settings.CHAT_MAX_CONVERSATIONS_PER_USER = 1
    users = [User.objects.create_user(f"u{n}") for n in range(10)]
    imports = [services.Import(u, HISTORY) for u in users] * 2
    with CaptureQueriesContext(connection) as queries:
        made = services.conversations_import(imports)
    assert [isinstance(c, Conversation) for c in made] == [True] * 10 + [False] * 10
    assert all(isinstance(c, quotas.StorageFull) for c in made[10:])
    # storage (conversations, bytes), conversations, messages, leaves, in a transaction
    statements = [q["sql"][:50] for q in queries if not q["sql"].startswith(TRANSACTION)]
    assert len(statements) == 5, statements
    assert Conversation.objects.count() == 10 and Message.objects.count() == 40
