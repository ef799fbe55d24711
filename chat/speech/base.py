"""What every speech engine is: a name and a blocking `synthesize(text, voice)` that
returns a WAV file's bytes, or raises `SpeechError` with a sentence a user can read."""

from __future__ import annotations

from typing import Protocol


class SpeechError(Exception):
    """An engine could not speak (missing, unreachable, slow, refused): its message is
    shown as it is."""


class Engine(Protocol):
    name: str

    def voice_for(self, text: str, voice: str | None) -> str:
        """The voice `synthesize` uses for this text (the cache key's)."""
        ...

    def synthesize(self, text: str, voice: str | None = None) -> bytes:
        """The text spoken, as WAV bytes. Blocking: called from a thread, never from
        the event loop."""
        ...
