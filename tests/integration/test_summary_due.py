"""When a summary is due after an answer, and what it is written from
(summaries.summary_due), against the real database."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from chat.conversations import summaries
from chat.models import Conversation, Message, Summary

pytestmark = pytest.mark.django_db

BUDGET = 400  # the next question is given a tenth: the path must fit 360


@pytest.fixture
def owner(settings: Any) -> Any:
    settings.CHAT_HISTORY_CHAR_BUDGET = BUDGET
    settings.LLM_SUMMARY_MODEL = ""
    return get_user_model().objects.create_user("alice", password="secret-pass-123")


def text(index: int, length: int) -> str:
    return (f"{index}" * length)[:length]


def path(owner: Any, *lengths: int, model: str = "") -> list[Message]:
    conversation = Conversation.objects.create(owner=owner, model=model)
    parent = None
    turns = []
    for index, length in enumerate(lengths):
        role = Message.Role.USER if index % 2 == 0 else Message.Role.ASSISTANT
        parent = Message.objects.create(
            conversation=conversation, parent=parent, role=role, content=text(index, length)
        )
        turns.append(parent)
    return turns


def due(turns: list[Message]) -> summaries.Due | None:
    return summaries.summary_due(
        conversation_id=turns[0].conversation_id, leaf_id=str(turns[-1].pk)
    )


def summary(turns: list[Message], index: int, **fields: Any) -> Summary:
    return Summary.objects.create(
        conversation_id=turns[0].conversation_id, covers=turns[index], **fields
    )


def test_nothing_is_due_while_the_next_request_fits(owner: Any) -> None:
    assert due(path(owner, 100, 100, 100, 50)) is None  # 350 of 360


def test_the_older_part_is_due_once_it_would_not(owner: Any) -> None:
    """400 > 360: everything older than the newest half of the budget (200)."""
    turns = path(owner, 100, 100, 100, 50, 50, model="demo-offline")
    found = due(turns)
    assert found is not None and found.covers == str(turns[2].pk)
    assert found.previous == "" and found.model_key == "demo-offline"
    assert found.turns == [("user", "0" * 100), ("assistant", "1" * 100), ("user", "2" * 100)]


def test_the_summary_model_setting_wins(owner: Any, settings: Any) -> None:
    settings.LLM_SUMMARY_MODEL = "cheap-model"
    found = due(path(owner, 100, 100, 100, 50, 50, model="demo-offline"))
    assert found is not None and found.model_key == "cheap-model"


def test_a_new_summary_builds_on_the_previous_one(owner: Any) -> None:
    """Incremental: the previous summary and the turns after its branch point only."""
    turns = path(owner, 100, 100, 100, 100, 100, 100, 100)
    summary(turns, 1, text="Earlier: 0 and 1.")
    found = due(turns)
    assert found is not None and found.previous == "Earlier: 0 and 1."
    assert found.covers == str(turns[5].pk)  # older than the newest 180 characters
    assert [content[0] for _, content in found.turns] == ["2", "3", "4", "5"]


def test_a_ready_summary_that_keeps_it_within_the_budget_is_reused(owner: Any) -> None:
    turns = path(owner, 100, 100, 100, 50, 50)
    summary(turns, 2, text="Earlier.")
    assert due(turns) is None


def test_a_cleared_summary_is_not_written_again_up_to_its_point(owner: Any) -> None:
    turns = path(owner, 100, 100, 100, 50, 50)
    summary(turns, 2, status=Summary.Status.CLEARED)
    assert due(turns) is None
    # Once the path grows past it, a new one is due (written afresh).
    grown = [*turns]
    for index, length in ((5, 100), (6, 100)):
        grown.append(
            Message.objects.create(
                conversation_id=turns[0].conversation_id,
                parent=grown[-1],
                role="assistant" if index % 2 else "user",
                content=text(index, length),
            )
        )
    found = due(grown)
    assert found is not None and found.previous == ""
    assert found.covers == str(grown[5].pk)


def test_a_failed_summary_is_tried_again_after_the_next_answer(owner: Any) -> None:
    turns = path(owner, 100, 100, 100, 50, 50)
    summary(turns, 2, status=Summary.Status.FAILED, error_code="timeout")
    found = due(turns)
    assert found is not None and found.covers == str(turns[2].pk)


def test_what_a_summary_is_written_from_is_bounded(owner: Any) -> None:
    """At most twice the budget of turns: the newest of what is due."""
    turns = path(owner, *([100] * 14))
    found = due(turns)
    assert found is not None
    assert found.covers == str(turns[12].pk)
    assert found.turns == [(t.role, t.content) for t in turns[5:13]]  # 800 characters
