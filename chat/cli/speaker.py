"""Speaking the chunks as they arrive: a worker thread takes them from a queue, in
order, synthesises each and plays it (`aplay`) or writes it as a numbered WAV file,
while the main thread goes on reading the answer."""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from chat.speech.base import Engine, SpeechError
from chat.speech.text import speakable

Sink = Callable[[bytes], None]


class WavFiles:
    """Each chunk's audio as DIR/0001.wav, DIR/0002.wav, …"""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0
        directory.mkdir(parents=True, exist_ok=True)

    def __call__(self, audio: bytes) -> None:
        self.count += 1
        (self.directory / f"{self.count:04d}.wav").write_bytes(audio)


def aplay_sink() -> Sink | None:
    """A sink that plays through ALSA's `aplay`, or None when it is not installed."""
    aplay = shutil.which("aplay")
    if aplay is None:
        return None

    def play(audio: bytes) -> None:
        subprocess.run([aplay, "-q", "-"], input=audio, check=False, capture_output=True)

    return play


class Speaker:
    """`say()` queues a chunk and returns at once. One thread synthesises the chunks in
    order while another plays (or writes) the ones already synthesised, so the next
    chunk's synthesis overlaps this one's playing. `close()` waits for all of it. A
    failing engine or sink is reported once (`notice`) and the rest left unsaid: the
    text still prints."""

    def __init__(self, engine: Engine, sink: Sink, notice: Callable[[str], None]) -> None:
        self.engine = engine
        self.sink = sink
        self.notice = notice
        self.failed = False
        self._lock = threading.Lock()
        self._texts: queue.Queue[str | None] = queue.Queue()
        self._audio: queue.Queue[bytes | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._synthesize, name="speech", daemon=True),
            threading.Thread(target=self._play, name="playback", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def say(self, chunk: str) -> None:
        text = speakable(chunk)
        if text and not self.failed:
            self._texts.put(text)

    def close(self) -> None:
        self._texts.put(None)
        for thread in self._threads:
            thread.join()

    def _fail(self, why: str) -> None:
        with self._lock:
            if self.failed:
                return
            self.failed = True
        self.notice(f"speech stopped: {why}")

    def _synthesize(self) -> None:
        while (text := self._texts.get()) is not None:
            if self.failed:
                continue
            try:
                self._audio.put(self.engine.synthesize(text))
            except SpeechError as exc:
                self._fail(str(exc))
        self._audio.put(None)

    def _play(self) -> None:
        while (audio := self._audio.get()) is not None:
            if self.failed:
                continue
            try:
                self.sink(audio)
            except OSError as exc:
                self._fail(f"cannot play or write the audio: {exc}")
