"""The context read of many paths at once (selectors.contexts_for_paths): a
conversation read whole gives what reading its path's ids gives, branches, failed and
streaming answers included, in the same one query."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.conversations import selectors
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


def said(conversation: Conversation, parent: Message | None, role: str, text: str, **kw) -> Message:
    return Message.objects.create(
        conversation=conversation, parent=parent, role=role, content=text, **kw
    )


def branched(owner) -> tuple[Conversation, list[str]]:
    """Q1, A1 (regenerated: A1' is the path's), Q2, a failed answer and one streaming:
    the path is [Q1, A1', Q2, failed, …] and only its finished turns go."""
    conversation = Conversation.objects.create(owner=owner)
    q1 = said(conversation, None, "user", "Q1")
    said(conversation, q1, "assistant", "A1, the first try")
    a1 = said(conversation, q1, "assistant", "A1, regenerated")
    q2 = said(conversation, a1, "user", "Q2")
    failed = said(conversation, q2, "assistant", "half", status="error")
    q3 = said(conversation, failed, "user", "Q3")
    live = said(conversation, q3, "assistant", "so far", status="streaming")
    tree = selectors.conversation_tree(conversation_id=conversation.pk)
    return conversation, tree.path(str(live.pk))


def test_a_conversation_read_whole_gives_the_same_context_in_one_query() -> None:
    owner = get_user_model().objects.create_user("ada")
    (first, first_path), (second, second_path) = branched(owner), branched(owner)
    paths = {str(first.pk): first_path, str(second.pk): second_path}
    by_ids = selectors.contexts_for_paths(paths)
    with CaptureQueriesContext(connection) as queries:
        mixed = selectors.contexts_for_paths(paths, read_whole={str(first.pk)})
    assert len(queries) == 1
    assert mixed == by_ids
    assert by_ids[str(first.pk)] == [
        ("user", "Q1"),
        ("assistant", "A1, regenerated"),
        ("user", "Q2"),
        ("user", "Q3"),
    ]
    assert selectors.contexts_for_paths(paths, read_whole=set(paths)) == by_ids
