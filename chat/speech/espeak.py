"""Debian's espeak-ng: offline, English and Japanese, one process per chunk."""

from __future__ import annotations

import shutil
import subprocess

from chat.speech.base import SpeechError
from chat.speech.text import language_of
from chat.speech.wav import fix_sizes


class EspeakEngine:
    """`espeak-ng --stdout -v <voice> -s <speed> -- text`; with no voice given, `ja`
    for Japanese text and `en` otherwise."""

    name = "espeak-ng"

    def __init__(
        self, *, voice: str = "", speed: int = 160, timeout: float = 20.0, binary: str = "espeak-ng"
    ) -> None:
        self.voice = voice
        self.speed = speed
        self.timeout = timeout
        self.binary = binary

    def voice_for(self, text: str, voice: str | None) -> str:
        return voice or self.voice or language_of(text)

    def synthesize(self, text: str, voice: str | None = None) -> bytes:
        if not text.strip():
            raise SpeechError("Nothing to say: the text is empty.")
        executable = shutil.which(self.binary)
        if executable is None:
            missing = f"{self.binary} is not installed (Debian: apt-get install espeak-ng)."
            raise SpeechError(missing)
        spoken = self.voice_for(text, voice)
        command = [executable, "--stdout", "-v", spoken, "-s", str(self.speed), "--", text]
        try:
            done = subprocess.run(command, capture_output=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise SpeechError(f"{self.binary} took longer than {self.timeout:g} s.") from None
        except OSError as exc:
            raise SpeechError(f"{self.binary} could not be started: {exc}.") from None
        if done.returncode != 0 or not done.stdout.startswith(b"RIFF"):
            why = done.stderr.decode(errors="replace").strip().splitlines()
            reason = why[0] if why else f"exit status {done.returncode}"
            raise SpeechError(f"{self.binary} failed (voice {spoken!r}): {reason}")
        return fix_sizes(done.stdout)
