"""The one JSON shape of a message, on unsaved model instances: no database."""

from datetime import UTC, datetime

from django.contrib.auth.models import User

from chat.admin import transcripts as review
from chat.conversations.serializers import (
    conversation_settings,
    conversation_to_dict,
    feedback_to_dict,
    message_to_dict,
)
from chat.models import Conversation, Feedback, Message

WHEN = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
FIELDS = {
    "id", "parent_id", "siblings", "role", "content", "status", "created", "model", "ttft_ms",
    "duration_ms", "usage", "error", "error_code", "finish_reason", "feedback", "client_id",
}  # fmt: skip


def conversation() -> Conversation:
    return Conversation(owner=User(username="alice"), title="Chat", created=WHEN, updated=WHEN)


def question(client_id: str | None = "c-1") -> Message:
    return Message(
        conversation=conversation(), role="user", content="Hi?", client_id=client_id, created=WHEN
    )


def answer(rating: int | None = None, **fields) -> Message:
    message = Message(
        conversation=conversation(),
        role="assistant",
        content="Hello.",
        model_name="demo",
        ttft_ms=12,
        duration_ms=340,
        input_tokens=3,
        output_tokens=2,
        total_tokens=5,
        created=WHEN,
        **fields,
    )
    if rating is None:  # what select_related("feedback") leaves when there is none
        Message.feedback.related.set_cached_value(message, None)
    else:
        Feedback(message=message, rating=rating, comment="nice")  # caches message.feedback
    return message


def test_a_message_has_every_field() -> None:
    message = answer()
    data = message_to_dict(message)
    assert set(data) == FIELDS
    assert data == {
        "id": str(message.pk),
        "parent_id": None,
        "siblings": [str(message.pk)],
        "role": "assistant",
        "content": "Hello.",
        "status": "complete",
        "created": "2025-05-06T07:08:09+00:00",
        "model": "demo",
        "ttft_ms": 12,
        "duration_ms": 340,
        "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
        "error": "",
        "error_code": "",
        "finish_reason": "",
        "feedback": None,
        "client_id": None,
    }


def test_feedback_is_only_on_answers() -> None:
    assert message_to_dict(answer(rating=1))["feedback"] == {"rating": "up", "comment": "nice"}
    assert message_to_dict(answer(rating=-1))["feedback"]["rating"] == "down"
    # A user message never reads its feedback (no query, no value).
    assert message_to_dict(question())["feedback"] is None


def test_feedback_to_dict_is_none_without_feedback() -> None:
    assert feedback_to_dict(answer()) is None


def test_client_id_is_the_user_messages_own() -> None:
    assert message_to_dict(question("c-1"))["client_id"] == "c-1"
    assert message_to_dict(question(None))["client_id"] is None
    assert message_to_dict(question(""))["client_id"] is None
    assert message_to_dict(answer(client_id="never-on-an-answer"))["client_id"] is None


def test_an_error_carries_its_code() -> None:
    data = message_to_dict(answer(status="error", error="Too slow.", error_code="timeout"))
    assert (data["status"], data["error"], data["error_code"]) == ("error", "Too slow.", "timeout")
    assert set(message_to_dict(question())) == FIELDS


def test_conversation_to_dict() -> None:
    item = conversation()
    assert conversation_to_dict(item) == {
        "id": str(item.pk),
        "title": "Chat",
        "created": "2025-05-06T07:08:09+00:00",
        "updated": "2025-05-06T07:08:09+00:00",
        "source": "web",
        "pinned": False,
        "archived": False,
        "temporary": False,
        "expires": None,
    }


def test_pinned_and_archived_are_booleans_wherever_a_conversation_is_shown() -> None:
    item = conversation()
    item.pinned = WHEN
    for shape in (conversation_to_dict, conversation_settings):
        assert (shape(item)["pinned"], shape(item)["archived"]) == (True, False)
    item.pinned, item.archived = None, WHEN
    for shape in (conversation_to_dict, conversation_settings):
        assert (shape(item)["pinned"], shape(item)["archived"]) == (False, True)


def test_csv_export_row_takes_the_messages_fields_from_message_to_dict() -> None:
    message = answer(rating=-1)
    data = message_to_dict(message)
    row = dict(zip(review.CSV_COLUMNS, review.csv_row(message), strict=True))
    assert row["message_id"] == data["id"]
    for key in ("created", "role", "status", "model", "ttft_ms", "duration_ms", "error"):
        assert row[key] == data[key]
    assert row["content"] == "Hello."
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (3, 2, 5)
    assert (row["feedback_rating"], row["feedback_comment"]) == ("down", "nice")
    assert (row["owner"], row["conversation_title"]) == ("alice", "Chat")
    assert row["conversation_id"] == message.conversation.pk
