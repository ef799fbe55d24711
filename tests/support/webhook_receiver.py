"""A webhook receiver on loopback: records every POST (path, headers, raw body) and
answers with the statuses queued for it (then 200), optionally holding requests until
released (a slow receiver). It verifies each signature as a real receiver would."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chat.webhooks import signing


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes
    status: int  # what the receiver answered
    signed: bool  # the signature verified with the receiver's secret

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


class WebhookReceiver:
    """`with WebhookReceiver() as receiver:`; `receiver.url` is its address."""

    def __init__(self) -> None:
        self.statuses: list[int] = []  # answered in turn; then 200
        self.secret = ""  # set once the subscription exists, to verify signatures
        self.received: list[Received] = []
        self.hold = threading.Event()  # cleared: requests wait (a slow receiver)
        self.hold.set()
        self.waiting = 0  # requests held now
        self.lock = threading.Lock()

    def __enter__(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.waiting += 1
                receiver.hold.wait(30)
                with receiver.lock:
                    receiver.waiting -= 1
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    header = self.headers.get(signing.HEADER, "")
                    signed = signing.verify(receiver.secret, header, raw, now=int(time.time()))
                    receiver.received.append(
                        Received(self.path, dict(self.headers), raw, status, signed)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def delivered(self) -> list[dict[str, Any]]:
        """The bodies answered 2xx, in the order they arrived."""
        with self.lock:
            return [r.body for r in self.received if 200 <= r.status < 300]
