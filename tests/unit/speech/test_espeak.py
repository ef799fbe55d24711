"""Debian's espeak-ng for real: English and Japanese read back with `wave`; a missing
binary or a bad voice is one readable SpeechError."""

from __future__ import annotations

import io
import wave

import pytest

from chat.speech.base import SpeechError
from chat.speech.espeak import EspeakEngine
from tests.support.speech_stubs import needs_espeak

pytestmark = needs_espeak


def _read(audio: bytes) -> tuple[int, int, bytes]:
    with wave.open(io.BytesIO(audio)) as read:
        frames = read.readframes(read.getnframes())
        return read.getframerate(), read.getnframes(), frames


@pytest.mark.parametrize(
    ("text", "voice"),
    [("Streaming lets you read an answer while it is written.", "en"), ("こんにちは。", "ja")],
)
def test_espeak_speaks_english_and_japanese(text: str, voice: str) -> None:
    engine = EspeakEngine()
    assert engine.voice_for(text, None) == voice
    rate, count, frames = _read(engine.synthesize(text))
    assert rate == 22050
    assert count > 0 and len(frames) == count * 2  # the header's sizes are the real ones
    assert any(frames)  # not silence


def test_a_text_starting_with_a_dash_is_spoken_not_read_as_an_option() -> None:
    rate, count, _ = _read(EspeakEngine().synthesize("-v is a flag"))
    assert rate == 22050 and count > 0


def test_a_missing_binary_is_a_readable_error() -> None:
    with pytest.raises(SpeechError, match="not installed"):
        EspeakEngine(binary="espeak-ng-not-here").synthesize("Hello.")


def test_an_unknown_voice_is_a_readable_error() -> None:
    with pytest.raises(SpeechError, match="failed"):
        EspeakEngine().synthesize("Hello.", "xx-no-such-voice")


def test_empty_text_is_refused() -> None:
    with pytest.raises(SpeechError, match="Nothing to say"):
        EspeakEngine().synthesize("  ")
