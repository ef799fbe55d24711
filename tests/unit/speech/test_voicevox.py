"""The VOICEVOX path against a VOICEVOX-compatible stub on loopback: the query, then
the synthesis with that query; failures are one SpeechError."""

from __future__ import annotations

import io
import wave

import pytest

from chat.speech.base import SpeechError
from chat.speech.voicevox import VoicevoxEngine
from tests.e2e.servers import free_port
from tests.support.speech_stubs import RATE, SpeechStub


def test_voicevox_asks_for_a_query_then_the_synthesis() -> None:
    with SpeechStub() as stub:
        audio = VoicevoxEngine(stub.url, 3).synthesize("こんにちは、世界。")
        query, synthesis = stub.asked
    assert query.path == "/audio_query"
    assert query.query == {"text": "こんにちは、世界。", "speaker": "3"}
    assert synthesis.path == "/synthesis" and synthesis.query == {"speaker": "3"}
    assert synthesis.body["text"] == "こんにちは、世界。"  # the query, sent back as it came
    with wave.open(io.BytesIO(audio)) as read:
        assert read.getframerate() == RATE and read.getnframes() > 0


def test_a_voice_names_another_speaker() -> None:
    with SpeechStub() as stub:
        VoicevoxEngine(stub.url + "/", 3).synthesize("Hi.", "8")
        assert [asked.query["speaker"] for asked in stub.asked] == ["8", "8"]


def test_a_refusal_is_a_readable_error() -> None:
    with SpeechStub() as stub:
        stub.status = 422
        with pytest.raises(SpeechError, match=r"refused audio_query \(422\)"):
            VoicevoxEngine(stub.url, 3).synthesize("Hi.")


def test_a_slow_engine_times_out() -> None:
    with SpeechStub() as stub:
        stub.delay = 1.0
        with pytest.raises(SpeechError, match="did not answer in time"):
            VoicevoxEngine(stub.url, 3, timeout=0.2).synthesize("Hi.")


def test_an_engine_not_running_is_a_readable_error() -> None:
    with pytest.raises(SpeechError, match="unreachable"):
        VoicevoxEngine(f"http://127.0.0.1:{free_port()}", 3).synthesize("Hi.")
