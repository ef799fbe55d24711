"""The JSON API of a conversation's summary (issue #25) through Django's test client
and the real database: read with the context meter, edit, clear; the owner only, and
a read-only token may read but not change it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat.accounts import api_tokens as tokens
from chat.conversations import selectors
from chat.models import Conversation, Message, Summary

pytestmark = pytest.mark.django_db

BUDGET = 400


@pytest.fixture
def owner(settings: Any) -> Any:
    settings.CHAT_HISTORY_CHAR_BUDGET = BUDGET
    return get_user_model().objects.create_user("alice", password="secret-pass-123")


@pytest.fixture
def alice(client: Client, owner: Any) -> Client:
    client.force_login(owner)
    return client


def long_chat(owner: Any, lengths: tuple[int, ...] = (100, 100, 100, 100, 50, 50)) -> Any:
    """A conversation whose path is turns of these lengths, and a summary up to the
    fourth turn."""
    conversation = Conversation.objects.create(owner=owner)
    parent = None
    turns = []
    for index, length in enumerate(lengths):
        role = Message.Role.USER if index % 2 == 0 else Message.Role.ASSISTANT
        parent = Message.objects.create(
            conversation=conversation, parent=parent, role=role, content=f"{index}" * length
        )
        turns.append(parent)
    Conversation.objects.filter(pk=conversation.pk).update(leaf=parent)
    Summary.objects.create(
        conversation=conversation,
        covers=turns[3],
        text="They spoke of gardens.",
        model_name="stub-model",
        input_tokens=11,
        output_tokens=4,
        total_tokens=15,
        duration_ms=120,
    )
    conversation.turns = turns
    return conversation


def url(conversation: Any) -> str:
    return f"/api/conversations/{conversation.pk}/summary/"


def put(client: Client, conversation: Any, body: Any) -> Any:
    return client.put(url(conversation), json.dumps(body), content_type="application/json")


def test_the_summary_of_the_current_path_and_the_context_meter(alice: Client, owner: Any) -> None:
    """Past the budget (500 > 400): the summary and the turns after its branch point
    are what the next request sends (22 + 100 = 122 characters)."""
    conversation = long_chat(owner)
    data = alice.get(url(conversation)).json()
    summary = data.pop("summary")
    assert summary.pop("created") and summary.pop("updated")
    assert summary == {
        "text": "They spoke of gardens.",
        "covers_up_to": str(conversation.turns[3].pk),
        "status": "ready",
        "error_code": None,
        "edited": False,
        "model": "stub-model",
        "usage": {"input_tokens": 11, "output_tokens": 4, "total_tokens": 15},
        "duration_ms": 120,
        "max_chars": BUDGET // 4,
    }
    assert data == {"context": {"used": 122, "budget": BUDGET, "cut": False, "summarised": True}}


def test_a_conversation_that_fits_has_no_summary_and_its_meter(alice: Client, owner: Any) -> None:
    conversation = Conversation.objects.create(owner=owner)
    Message.objects.create(conversation=conversation, role="user", content="Hello")
    data = alice.get(url(conversation)).json()
    assert data == {
        "summary": None,
        "context": {"used": 5, "budget": BUDGET, "cut": False, "summarised": False},
    }


def test_an_edited_summary_is_what_the_model_gets(alice: Client, owner: Any) -> None:
    conversation = long_chat(owner)
    response = put(alice, conversation, {"text": "  They spoke of roses.  "})
    assert response.status_code == 200
    summary = response.json()["summary"]
    assert summary["text"] == "They spoke of roses." and summary["edited"] is True
    _tree, path = selectors.current_path(conversation_id=conversation.pk)
    context = selectors.contexts_for_paths({"": path})[""]
    assert context[0] == ("summary", "They spoke of roses.")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": ""}, "invalid"),
        ({"text": "   "}, "invalid"),
        ({"text": 3}, "invalid"),
        ({}, "invalid"),
        ({"text": "x" * (BUDGET // 4 + 1)}, "too_long"),
        ([], "bad_request"),
    ],
    ids=["empty", "blank", "number", "missing", "too-long", "not-an-object"],
)
def test_an_edit_is_validated(alice: Client, owner: Any, body: Any, code: str) -> None:
    conversation = long_chat(owner)
    response = put(alice, conversation, body)
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert Summary.objects.get(conversation=conversation).text == "They spoke of gardens."


def test_a_cleared_summary_leaves_todays_cut(alice: Client, owner: Any) -> None:
    conversation = long_chat(owner)
    assert alice.delete(url(conversation)).status_code == 204
    data = alice.get(url(conversation)).json()
    assert data["summary"]["status"] == "cleared" and data["summary"]["text"] == ""
    # Today's cut: 50 + 50 + 100 + 100 + 100 = 400; the first turn would pass it.
    assert data["context"] == {"used": 400, "budget": BUDGET, "cut": True, "summarised": False}
    _tree, path = selectors.current_path(conversation_id=conversation.pk)
    context = selectors.contexts_for_paths({"": path})[""]
    assert all(role != "summary" for role, _ in context)


def test_no_summary_to_edit_or_clear_is_a_404(alice: Client, owner: Any) -> None:
    conversation = Conversation.objects.create(owner=owner)
    assert put(alice, conversation, {"text": "Hi"}).status_code == 404
    assert alice.delete(url(conversation)).json()["error"]["code"] == "not_found"


def test_another_users_summary_is_a_404_and_stays(client: Client, owner: Any) -> None:
    conversation = long_chat(owner)
    bob = get_user_model().objects.create_user("bob", password="secret-pass-123")
    client.force_login(bob)
    for response in (
        client.get(url(conversation)),
        put(client, conversation, {"text": "Mine now."}),
        client.delete(url(conversation)),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert Summary.objects.get(conversation=conversation).text == "They spoke of gardens."


def test_signed_out_is_a_401(client: Client, owner: Any) -> None:
    conversation = long_chat(owner)
    assert client.get(url(conversation)).status_code == 401


def test_a_read_only_token_reads_it_and_may_not_change_it(owner: Any) -> None:
    conversation = long_chat(owner)
    _token, raw = tokens.token_create(user=owner, name="script", scope="read")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(url(conversation)).status_code == 200
    for response in (put(client, conversation, {"text": "No."}), client.delete(url(conversation))):
        assert response.status_code == 403
    assert Summary.objects.get(conversation=conversation).status == "ready"


def test_a_sessions_change_needs_the_csrf_token(owner: Any) -> None:
    conversation = long_chat(owner)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = put(client, conversation, {"text": "Without the token."})
    assert response.status_code == 403
    assert Summary.objects.get(conversation=conversation).text == "They spoke of gardens."


def test_staff_see_the_summary_in_the_transcript(staff: Client, owner: Any) -> None:
    """The admin's transcript shows the summary the model gets, its state and cost."""
    conversation = long_chat(owner)
    Summary.objects.filter(conversation=conversation).update(edited=True)
    html = staff.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    block = html[html.index('id="summary"') :]
    assert "They spoke of gardens." in block and "edited by the user" in block
    assert f"up to message {conversation.turns[3].pk}" in block
    assert "written by stub-model" in block and "Tokens 11 in / 4 out" in block
    assert "sends 122 of 400 characters" in block


def test_staff_see_a_failed_summary(staff: Client, owner: Any) -> None:
    conversation = long_chat(owner)
    Summary.objects.filter(conversation=conversation).update(
        status="failed", text="", error_code="model_unreachable"
    )
    html = staff.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    block = html[html.index('id="summary"') :]
    assert 'data-status="failed"' in block and "Failed (model_unreachable)" in block


def context_of(conversation: Any) -> list[tuple[str, str]]:
    _tree, path = selectors.current_path(conversation_id=conversation.pk)
    return selectors.contexts_for_paths({"": path})[""]


def test_clearing_the_newest_summary_does_not_bring_back_an_older_one(
    alice: Client, owner: Any
) -> None:
    """Summaries stay per branch point: clearing the deepest on the path is today's cut,
    not the one before it."""
    conversation = long_chat(owner)
    Summary.objects.create(conversation=conversation, covers=conversation.turns[1], text="Old.")
    assert alice.delete(url(conversation)).status_code == 204
    assert all(role != "summary" for role, _ in context_of(conversation))


def test_past_a_failed_summary_the_ready_one_before_it_is_used(owner: Any) -> None:
    """A failed refresh loses nothing: the older summary is still true of what it covers."""
    conversation = long_chat(owner)
    Summary.objects.filter(conversation=conversation).update(
        status="failed", text="", error_code="timeout"
    )
    Summary.objects.create(conversation=conversation, covers=conversation.turns[1], text="Old.")
    context = context_of(conversation)
    # "Old." and the turns after its point that fit: 4 + 50 + 50 + 100 + 100 <= 400.
    assert context[0] == ("summary", "Old.")
    assert [len(content) for _, content in context[1:]] == [100, 100, 50, 50]
