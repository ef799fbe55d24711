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
    """`say()` queues a chunk and returns at once; `close()` waits for the queue to be
    spoken. A failing engine is reported once (`notice`) and the rest left unsaid:
    the text still prints."""

    def __init__(self, engine: Engine, sink: Sink, notice: Callable[[str], None]) -> None:
        self.engine = engine
        self.sink = sink
        self.notice = notice
        self.failed = False
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="speaker", daemon=True)
        self._thread.start()

    def say(self, chunk: str) -> None:
        text = speakable(chunk)
        if text and not self.failed:
            self._queue.put(text)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _work(self) -> None:
        while (text := self._queue.get()) is not None:
            if self.failed:
                continue
            try:
                self.sink(self.engine.synthesize(text))
            except SpeechError as exc:
                self.failed = True
                self.notice(f"speech stopped: {exc}")
            except OSError as exc:
                self.failed = True
                self.notice(f"speech stopped: cannot play or write the audio: {exc}")
