"""A VOICEVOX-compatible engine on loopback that takes a realistic time per character.

    python bench/voicevox_stub.py --port 0 [--base-ms 40] [--per-char-ms 8]

It speaks VOICEVOX's two-step API as chat/speech/voicevox.py calls it:
`POST /audio_query?text=&speaker=` answers an audio query (JSON), and
`POST /synthesis?speaker=` with that query answers a real WAV (24 kHz mono 16-bit,
VOICEVOX's own format): a quiet sine as long as the text would take to say. Each text
costs `base-ms + per-char-ms * characters` in all, a tenth of it in audio_query
(VOICEVOX's text analysis is cheap) and the rest in synthesis.

Why 40 ms + 8 ms per character: VOICEVOX's CPU build synthesises at roughly a tenth
of real time on a desktop core, and Japanese is said at about 7-8 morae (about 6-8
characters of mixed kana and kanji) a second, so a character of speech (~0.13 s)
costs ~8-13 ms to make; the fixed 40 ms is the two HTTP round trips, the query's
analysis and the vocoder's start. These are estimates, not a measurement of a real
VOICEVOX (none runs here): change them with the options to model a faster GPU build
(~2 ms per character) or a slower machine.

Requests run on threads (ThreadingHTTPServer), so a slow synthesis never holds up
another's. `GET /stats` answers how many texts were queried and synthesised. Prints
`READY <port>` on stdout once it listens.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import struct
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

RATE = 24000  # VOICEVOX's output sampling rate
SECONDS_PER_CHAR = 0.13  # how long a character takes to say, for the WAV's length
QUERY_SHARE = 0.1  # the part of a text's cost spent in /audio_query


def sine_wav(seconds: float, rate: int = RATE, hz: float = 220.0) -> bytes:
    """A mono 16-bit WAV of a quiet sine, `seconds` long (at least one frame)."""
    frames = max(1, int(seconds * rate))
    one_period = [int(3000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(rate // 10)]
    samples = (one_period * (frames // len(one_period) + 1))[:frames]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{frames}h", *samples))
    return buffer.getvalue()


class Stub:
    def __init__(self, base_ms: float, per_char_ms: float) -> None:
        self.base = base_ms / 1000
        self.per_char = per_char_ms / 1000
        self.lock = threading.Lock()
        self.counts = {"audio_query": 0, "synthesis": 0}

    def cost(self, text: str) -> float:
        return self.base + self.per_char * len(text)

    def count(self, step: str) -> None:
        with self.lock:
            self.counts[step] += 1


def handler_for(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/stats":
                with stub.lock:
                    body = json.dumps(stub.counts).encode()
                self.send(200, body, "application/json")
            else:
                self.send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            params = parse_qs(parts.query)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if "speaker" not in params:
                self.send(422, b'{"detail": "speaker is required"}', "application/json")
            elif parts.path == "/audio_query":
                text = params.get("text", [""])[0]
                time.sleep(stub.cost(text) * QUERY_SHARE)
                stub.count("audio_query")
                query = {"kana": text, "speedScale": 1.0, "outputSamplingRate": RATE}
                self.send(200, json.dumps(query, ensure_ascii=False).encode(), "application/json")
            elif parts.path == "/synthesis":
                text = str(json.loads(body or b"{}").get("kana", ""))
                time.sleep(stub.cost(text) * (1 - QUERY_SHARE))
                stub.count("synthesis")
                self.send(200, sine_wav(SECONDS_PER_CHAR * len(text)), "audio/wav")
            else:
                self.send(404, b"not found", "text/plain")

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--base-ms", type=float, default=40.0)
    parser.add_argument("--per-char-ms", type=float, default=8.0)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), handler_for(Stub(args.base_ms, args.per_char_ms))
    )
    server.daemon_threads = True
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
