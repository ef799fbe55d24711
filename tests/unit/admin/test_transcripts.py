"""Staff exports on unsaved model instances: no database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User

from chat.admin import transcripts as review
from chat.models import Conversation, Feedback, Message

WHEN = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]


def message(content: str, *, title: str = "Chat", owner: str = "alice", **fields) -> Message:
    conversation = Conversation(owner=User(username=owner), title=title, created=WHEN)
    item = Message(conversation=conversation, content=content, created=WHEN, **fields)
    if item.role == Message.Role.ASSISTANT:
        Message.feedback.related.set_cached_value(item, None)  # as select_related leaves it
    return item


def row_of(item: Message) -> dict[str, object]:
    return dict(zip(review.CSV_COLUMNS, review.csv_row(item), strict=True))


def written(item: Message) -> dict[str, str]:
    """The row as a spreadsheet or csv.reader reads the written file."""
    header = review.csv_writer().writerow(review.CSV_COLUMNS)
    text = header + review.csv_writer().writerow(review.csv_row(item))
    return next(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("trigger", TRIGGERS, ids=repr)
def test_a_text_cell_starting_a_formula_gets_an_apostrophe(trigger: str) -> None:
    payload = f'{trigger}HYPERLINK("http://evil.example","click")'
    assert review.csv_safe(payload) == "'" + payload
    row = written(message(payload, role="user", title=payload, client_id="c"))
    assert row["content"] == row["conversation_title"] == "'" + payload


@pytest.mark.parametrize("trigger", TRIGGERS, ids=repr)
def test_every_text_column_is_neutralised(trigger: str) -> None:
    """Owner names (Django allows + - @ in them), errors and feedback comments too."""
    item = message(
        "ok",
        role="assistant",
        owner=f"{trigger}bob",
        error=f"{trigger}1+1",
        model_name=f"{trigger}model",
        status="error",
    )
    Feedback(message=item, rating=-1, comment=f"{trigger}cmd|' /C calc'!A0")
    row = row_of(item)
    for column in ("owner", "error", "model", "feedback_comment"):
        assert isinstance(row[column], str) and row[column].startswith("'" + trigger), column


PLAIN = ["plain text", "", "a = b", "1+1 is 2", "x@example.com", "'quoted", "こんにちは", "\n-"]


@pytest.mark.parametrize("text", PLAIN)
def test_other_text_is_unchanged(text: str) -> None:
    assert review.csv_safe(text) == text
    assert written(message(text, role="user"))["content"] == text


def test_numbers_stay_numbers() -> None:
    """Numeric columns are real numbers: written unquoted and never prefixed, even
    negative ones (csv_safe is about text)."""
    assert review.csv_safe(-5) == -5 and review.csv_safe(None) is None
    item = message(
        "answer",
        role="assistant",
        ttft_ms=12,
        duration_ms=340,
        input_tokens=3,
        output_tokens=2,
        total_tokens=5,
    )
    line = review.csv_writer().writerow(review.csv_row(item))
    assert ",12,340,3,2,5," in line  # unquoted numbers
    assert '"answer"' in line  # quoted text
    row = written(item)
    assert (row["ttft_ms"], row["total_tokens"]) == ("12", "5")
