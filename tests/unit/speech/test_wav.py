"""A WAV written to a pipe gets its sizes set from its length."""

from __future__ import annotations

import io
import struct
import wave

from chat.speech.wav import fix_sizes
from tests.support.speech_stubs import tone_wav


def _as_from_a_pipe(audio: bytes) -> bytes:
    broken = bytearray(audio)
    struct.pack_into("<I", broken, 4, 0x7FFFF024)
    struct.pack_into("<I", broken, 40, 0x7FFFF000)
    return bytes(broken)


def test_placeholder_sizes_are_replaced() -> None:
    audio = tone_wav(0.05)
    fixed = fix_sizes(_as_from_a_pipe(audio))
    assert fixed == audio
    with wave.open(io.BytesIO(fixed)) as read:
        assert read.getnframes() == int(0.05 * 24000)


def test_what_is_not_a_wav_is_left_alone() -> None:
    for data in (b"", b"RIFF", b"ID3\x03 an mp3", b"RIFF\x00\x00\x00\x00AVI LIST"):
        assert fix_sizes(data) == data
