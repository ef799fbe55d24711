"""Many rows written in one round trip (chat/db.py `insert_rows`): each row as
`bulk_create` writes it, the database's default where the model leaves one to it."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models.expressions import DatabaseDefault
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import db
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

COMPARED = ["role", "content", "status", "client_id", "model_name"]
COMPARED += ["reserved_tokens", "supplied_by_client", "error", "error_code", "finish_reason"]


def pair(conversation: Conversation) -> list[Message]:
    question = Message(conversation=conversation, role="user", content="Q ü", client_id="c-1")
    answer = Message(
        conversation=conversation,
        parent_id=question.pk,
        role="assistant",
        status="streaming",
        model_name="m",
        reserved_tokens=7,
    )
    return [question, answer]


def test_rows_are_written_as_bulk_create_writes_them_in_one_statement() -> None:
    owner = get_user_model().objects.create_user("ada")
    mine, reference = (Conversation.objects.create(owner=owner) for _ in range(2))
    ours, theirs = pair(mine), pair(reference)
    assert isinstance(ours[0].updated, DatabaseDefault)  # left to the database's clock
    with CaptureQueriesContext(connection) as queries:
        db.insert_rows(ours)
    Message.objects.bulk_create(theirs)
    assert len(queries) == 1  # one executemany: pipelined into one round trip
    rows = {m.pk: m for m in Message.objects.all()}
    for written, bulk in zip(ours, theirs, strict=True):
        got, want = rows[written.pk], rows[bulk.pk]
        assert {f: getattr(got, f) for f in COMPARED} == {f: getattr(want, f) for f in COMPARED}
        assert got.conversation_id == mine.pk and got.updated is not None
        assert not written._state.adding  # saved, as bulk_create leaves them
    question, answer = rows[ours[0].pk], rows[ours[1].pk]
    assert answer.parent_id == question.pk and question.created <= answer.created


def test_a_database_default_for_some_rows_only_is_refused() -> None:
    owner = get_user_model().objects.create_user("ada")
    conversation = Conversation.objects.create(owner=owner)
    rows = pair(conversation)
    rows[1].updated = timezone.now()
    with pytest.raises(ValueError, match="updated"):
        db.insert_rows(rows)
    assert not Message.objects.filter(conversation=conversation).exists()
    db.insert_rows([])  # nothing to write: no statement
