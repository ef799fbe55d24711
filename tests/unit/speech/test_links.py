"""An audio link (speech/links.py) names its chunk for one user only."""

from __future__ import annotations

import pytest

from chat.speech.links import audio_token, audio_url, key_from_token

KEY = "ab" * 32


def test_a_link_names_its_key_for_its_user() -> None:
    token = audio_token(7, KEY)
    assert key_from_token(7, token) == KEY
    assert audio_url(7, KEY) == f"/api/speech/{token}.wav"


@pytest.mark.parametrize(
    ("user_id", "token"),
    [
        (8, audio_token(7, KEY)),  # another user's
        (7, audio_token(7, KEY)[:-2] + "xx"),  # forged
        (7, audio_token(7, "../../etc/passwd")),  # not a key
        (7, "not-a-token"),
        (7, ""),
    ],
    ids=["another-users", "forged", "not-a-key", "not-a-token", "empty"],  # tokens vary by key
)
def test_any_other_token_names_nothing(user_id: int, token: str) -> None:
    assert key_from_token(user_id, token) is None
