"""WAV bytes: a header whose sizes are right, for audio written to a pipe."""

from __future__ import annotations

import struct


def fix_sizes(audio: bytes) -> bytes:
    """The WAV with its RIFF and `data` sizes set from its length: espeak-ng writing to
    stdout cannot seek back, so it leaves placeholders (about 2 GB) that players and
    browsers may trust. Anything that is not a RIFF/WAVE file is returned unchanged."""
    if len(audio) < 12 or audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
        return audio
    fixed = bytearray(audio)
    struct.pack_into("<I", fixed, 4, len(audio) - 8)
    offset = 12
    while offset + 8 <= len(audio):
        chunk, size = audio[offset : offset + 4], struct.unpack_from("<I", audio, offset + 4)[0]
        if chunk == b"data":
            struct.pack_into("<I", fixed, offset + 4, len(audio) - offset - 8)
            break
        offset += 8 + size + (size & 1)
    return bytes(fixed)
