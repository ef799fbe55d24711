"""A socket's language, from its handshake as a page's from its request, and the frames
it localizes (chat/transports/websocket/language.py)."""

from __future__ import annotations

import pytest
from django.utils.translation import gettext_lazy

from chat.errors import INTERRUPTED_ERROR
from chat.streaming.delivery import frames
from chat.transports.websocket.language import localize, scope_language


def scope(*, cookie: str = "", accept: str = "", cookies: dict[str, str] | None = None) -> dict:
    headers = [(b"cookie", cookie.encode())] if cookie else []
    headers += [(b"accept-language", accept.encode())] if accept else []
    return {"headers": headers, **({"cookies": cookies} if cookies is not None else {})}


@pytest.mark.parametrize(
    ("handshake", "language"),
    [
        (scope(), "en"),
        (scope(accept="ja"), "ja"),
        (scope(accept="ja-JP,ja;q=0.9,en;q=0.8"), "ja"),
        (scope(accept="fr-FR,fr;q=0.9,ja;q=0.5"), "ja"),  # the first one offered
        (scope(accept="fr-FR,de;q=0.9"), "en"),
        (scope(accept="en-GB,ja;q=0.5"), "en"),
        (scope(cookie="django_language=ja", accept="en"), "ja"),  # the switch wins
        (scope(cookie="django_language=en", accept="ja"), "en"),
        (scope(cookie="django_language=xx", accept="ja"), "ja"),  # not a language of ours
        (scope(cookies={"django_language": "ja"}, accept="en"), "ja"),  # Channels' cookies
    ],
)
def test_the_handshake_chooses_as_a_request_would(handshake: dict, language: str) -> None:
    assert scope_language(handshake) == language


def test_only_sentences_for_the_user_are_translated() -> None:
    chunk = frames.chunk_frame("m1", 0, "The message is empty.")
    assert localize(chunk, "ja") is chunk  # model output: never touched
    error = localize(frames.error_frame("bad_frame", gettext_lazy("The message is empty.")), "ja")
    assert error == {"type": "error", "code": "bad_frame", "message": "メッセージが空です。"}
    ending = {
        "status": "error",
        "usage": None,
        "ttft_ms": None,
        "duration_ms": None,
        "error": INTERRUPTED_ERROR,
        "error_code": "interrupted",
        "finish_reason": "",
    }
    end = localize(frames.end_frame("m1", ending), "ja")
    assert end["error"] == "サーバーが停止したため、回答が中断されました。"
    odd = localize(frames.error_frame("model_error", "HTTP 502 from upstream"), "ja")
    assert odd["message"] == "HTTP 502 from upstream"  # not in the catalogue: as it is
    assert localize(frames.error_frame("bad_frame", "The message is empty."), "en")["message"] == (
        "The message is empty."
    )


@pytest.mark.parametrize(
    ("saved", "japanese"),
    [
        (
            "The model server at 127.0.0.1:9 could not be reached: it refused the connection.",
            "モデルのサーバー 127.0.0.1:9 に接続できませんでした: 接続を拒否されました。",
        ),
        (
            "The model server at llm.invalid could not be reached: its name does not resolve.",
            "モデルのサーバー llm.invalid に接続できませんでした: ホスト名を解決できません。",
        ),
        (
            "The model server answered with an error (HTTP 502).",
            "モデルのサーバーがエラーを返しました（HTTP 502）。",
        ),
        (
            "The connection to the model broke off mid-answer.",
            "回答の途中でモデルとの接続が切れました。",
        ),
    ],
)
def test_saved_errors_with_a_part_of_their_own_are_translated_around_it(
    saved: str, japanese: str
) -> None:
    """A host or a status stays as saved; the sentence and the reason around it are
    Japanese, in an `end` frame as in the history."""
    ending = {
        "status": "error",
        "usage": None,
        "ttft_ms": None,
        "duration_ms": None,
        "error": saved,
        "error_code": "model_unreachable",
        "finish_reason": "",
    }
    assert localize(frames.end_frame("m1", ending), "ja")["error"] == japanese
    assert localize(frames.end_frame("m1", ending), "en")["error"] == saved
