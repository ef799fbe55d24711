"""The body of each delivery in each format."""

from __future__ import annotations

import pytest

from chat.webhooks.payloads import chunk_body, final_body

M = "8d0c4a8e-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("json", "Hello.", {"message_id": M, "seq": 3, "text": "Hello."}),
        ("json", "\n", {"message_id": M, "seq": 3, "text": "\n"}),
        ("slack", "Hello.", {"text": "Hello."}),
        ("slack", " \n", None),
        ("discord", "こんにちは。", {"content": "こんにちは。"}),
        ("discord", "", None),
        ("discord", "x" * 2500, {"content": "x" * 2000}),
    ],
)
def test_a_chunk_in_each_format(fmt: str, text: str, expected: object) -> None:
    """Ours carries the answer and seq; Slack and Discord their own key, never blank."""
    assert chunk_body(fmt, message_id=M, seq=3, text=text) == expected


@pytest.mark.parametrize(
    ("fmt", "status", "code", "expected"),
    [
        (
            "json",
            "complete",
            "",
            {"message_id": M, "seq": 9, "status": "complete", "error_code": None},
        ),
        (
            "json",
            "stopped",
            "",
            {"message_id": M, "seq": 9, "status": "stopped", "error_code": None},
        ),
        (
            "json",
            "error",
            "timeout",
            {"message_id": M, "seq": 9, "status": "failed", "error_code": "timeout"},
        ),
        ("slack", "complete", "", None),
        ("slack", "stopped", "", {"text": "(answer stopped)"}),
        ("discord", "error", "model_error", {"content": "(answer failed: model_error)"}),
    ],
)
def test_the_final_word_in_each_format(fmt: str, status: str, code: str, expected: object) -> None:
    """Ours always says how the answer ended; chat tools only when it did not complete."""
    assert final_body(fmt, message_id=M, seq=9, status=status, error_code=code) == expected


def test_an_unknown_format_is_a_bug() -> None:
    with pytest.raises(ValueError):
        chunk_body("teams", message_id=M, seq=0, text="hi")
