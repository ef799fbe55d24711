"""The OpenAI-compatible path (`POST /v1/audio/speech`, the official client) against
a stub on loopback that records the request."""

from __future__ import annotations

import io
import wave

import pytest

from chat.speech.base import SpeechError
from chat.speech.openai_speech import OpenAISpeechEngine
from tests.e2e.servers import free_port
from tests.support.speech_stubs import RATE, SpeechStub


def test_openai_speech_asks_for_wav_with_the_model_and_voice() -> None:
    with SpeechStub() as stub:
        engine = OpenAISpeechEngine(f"{stub.url}/v1", "sk-local", "kokoro", "af_bella")
        audio = engine.synthesize("Hello there.")
        (asked,) = stub.asked
    assert asked.path == "/v1/audio/speech"
    assert asked.body == {
        "input": "Hello there.",
        "model": "kokoro",
        "voice": "af_bella",
        "response_format": "wav",
    }
    assert asked.authorization == "Bearer sk-local"
    with wave.open(io.BytesIO(audio)) as read:
        assert read.getframerate() == RATE and read.getnframes() > 0


def test_a_voice_overrides_the_default() -> None:
    with SpeechStub() as stub:
        OpenAISpeechEngine(f"{stub.url}/v1").synthesize("Hi.", "nova")
        assert stub.asked[0].body["voice"] == "nova"


def test_a_refusal_is_a_readable_error() -> None:
    with SpeechStub() as stub:
        stub.status = 400
        with pytest.raises(SpeechError, match=r"refused \(400\)"):
            OpenAISpeechEngine(f"{stub.url}/v1").synthesize("Hi.")


def test_a_server_not_running_is_a_readable_error() -> None:
    with pytest.raises(SpeechError, match="unreachable"):
        OpenAISpeechEngine(f"http://127.0.0.1:{free_port()}/v1").synthesize("Hi.")
