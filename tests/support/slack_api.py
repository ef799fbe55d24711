"""A Slack-Web-API-compatible server on loopback: records every call (method, headers,
JSON or form body) and answers as Slack does (`{"ok": true, "channel", "ts", ...}`);
`errors` makes the next calls answer `{"ok": false, "error": ...}` and a cleared `hold`
makes calls wait (a slow Slack). Point the SDK's `base_url` (SLACK_API_URL) at `api.url`."""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Call:
    method: str  # the Web API method: chat.postMessage, chat.update, ...
    headers: dict[str, str]
    body: dict[str, Any]


class SlackAPI:
    """`with SlackAPI() as api:`; `api.calls` in the order they came."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.errors: list[str] = []  # answered in turn as `ok: false`; then ok
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.hold = threading.Event()  # cleared: calls wait until it is set (a slow Slack)
        self.hold.set()

    def __enter__(self) -> SlackAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                kind = self.headers.get("Content-Type", "")
                if kind.startswith("application/json"):
                    body = json.loads(raw or b"{}")
                else:
                    body = dict(parse_qsl(raw.decode()))
                method = self.path.rstrip("/").rsplit("/", 1)[-1]
                api.hold.wait(30)
                with api.lock:
                    api.calls.append(Call(method, dict(self.headers), body))
                    reply = api.reply(body)
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.errors:
            return {"ok": False, "error": self.errors.pop(0)}
        ts = f"1700000000.{next(self.counter):06d}"
        return {"ok": True, "channel": body.get("channel"), "ts": ts, "message": body}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def posts(self, thread_ts: str | None = None, channel: str | None = None) -> list[str]:
        """The texts posted (to one thread: a ts is unique only within its channel), in
        order."""
        with self.lock:
            return [
                str(c.body.get("text", ""))
                for c in self.calls
                if c.method == "chat.postMessage"
                and (thread_ts is None or c.body.get("thread_ts") == thread_ts)
                and (channel is None or c.body.get("channel") == channel)
            ]
