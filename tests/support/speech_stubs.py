"""Speech engines on loopback that record what they were asked and answer a real
small WAV: VOICEVOX's `POST /audio_query` + `POST /synthesis`, and the OpenAI-compatible
`POST /v1/audio/speech`. Start with `with SpeechStub() as stub:`."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
import wave
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

RATE = 24000  # VOICEVOX's output rate

# Tests that run Debian's espeak-ng: skipped without it, except in CI (.ci/run installs it).
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and os.environ.get("CI", "").lower() != "true",
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


def tone_wav(seconds: float = 0.1, rate: int = RATE) -> bytes:
    """A real mono 16-bit WAV of a square wave."""
    frames = bytearray()
    for index in range(int(seconds * rate)):
        sample = 8000 if (index // 40) % 2 else -8000
        frames += sample.to_bytes(2, "little", signed=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buffer.getvalue()


@dataclass
class Asked:
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


class SpeechStub:
    def __init__(self) -> None:
        self.asked: list[Asked] = []
        self.status = 200  # another: every request refused with it
        self.delay = 0.0  # seconds before each answer
        self.gate = threading.Event()  # cleared: every answer waits until it is set
        self.gate.set()
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                asked = Asked(parts.path, query, json.loads(raw) if raw else None, None)
                asked.authorization = self.headers.get("Authorization")
                with stub._lock:
                    stub.asked.append(asked)
                stub.gate.wait(timeout=30)
                time.sleep(stub.delay)
                status, kind, body = stub.answer(asked)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, asked: Asked) -> tuple[int, str, bytes]:
        if self.status != 200:
            return self.status, "application/json", b'{"detail": "refused by the stub"}'
        if asked.path == "/audio_query":
            query = {"accent_phrases": [], "speedScale": 1.0, "text": asked.query.get("text")}
            return 200, "application/json", json.dumps(query).encode()
        if asked.path in ("/synthesis", "/v1/audio/speech"):
            return 200, "audio/wav", tone_wav()
        return 404, "application/json", b'{"detail": "Not Found"}'

    def paths(self) -> list[str]:
        with self._lock:
            return [asked.path for asked in self.asked]

    def __enter__(self) -> SpeechStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
