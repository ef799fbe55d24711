"""An OpenAI-compatible chat completions server on loopback, for the real ChatOpenAI client.

It speaks what the client reads: `POST /v1/chat/completions` with `stream: true`
answered by server-sent events (`choices[].delta.content`, then a usage chunk when
`stream_options.include_usage` is set, then `[DONE]`), with chunked transfer
encoding written in small pieces so multi-byte UTF-8 characters can be cut
across TCP writes. Replies are queued per test and taken in the order requests
come, except that a reply with `asked` waits for a request asking that (answers that
run at once reach the server in either order); nothing leaves the machine.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    deltas: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " stub."])
    usage: dict[str, int] | None = field(
        default_factory=lambda: {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
    )
    delay: float = 0.0  # seconds before each delta
    status: int = 200  # non-200: an error body instead of a stream
    fail_after: int | None = None  # drop the connection after this many deltas
    hang_after: int | None = None  # stop sending (but keep the socket) after this many
    split_bytes: bool = True  # write each event in two pieces, cutting inside a character
    finish_reason: str = "stop"  # "length": cut off by the token limit
    asked: str | None = None  # only for a request whose last user message contains this


class OpenAIStub:
    """Start with `with OpenAIStub() as stub:`; `stub.base_url` goes to OPENAI_BASE_URL."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.peers: list[tuple[str, int]] = []  # the client's address of each request
        self.auth: list[str | None] = []  # the Authorization header of each request
        self.disconnects = 0  # streams the client closed before their end
        # Answers a request no queued reply fits (instead of the default Reply), from
        # what it asks: a stand-in model whose words depend on its input.
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub._lock:
                    stub.requests.append(body)
                    stub.peers.append(self.client_address)
                    stub.auth.append(self.headers.get("Authorization"))
                    reply = stub.take(body)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": "not found"}})
                if reply.status != 200:
                    return self._json(
                        reply.status,
                        {"error": {"message": "stub error", "type": "stub", "code": None}},
                    )
                try:
                    self._stream(body, reply)
                except OSError:  # the client hung up before the stream's end
                    with stub._lock:
                        stub.disconnects += 1
                    self.close_connection = True

            def _json(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(raw)

            def _write(self, data: bytes, split: bool) -> None:
                pieces = [data]
                if split and len(data) > 2:
                    # Cut inside a multi-byte character when there is one.
                    cut = next((i for i, b in enumerate(data) if b >= 0xC0), len(data) // 2) + 1
                    pieces = [data[:cut], data[cut:]]
                for piece in pieces:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                base = {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": body.get("model", "stub"),
                }

                def event(payload: dict[str, Any]) -> None:
                    line = "data: " + json.dumps({**base, **payload}, ensure_ascii=False)
                    self._write((line + "\n\n").encode(), reply.split_bytes)

                event(
                    {
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": ""},
                                "finish_reason": None,
                            }
                        ]
                    }
                )
                for index, delta in enumerate(reply.deltas):
                    if reply.fail_after is not None and index == reply.fail_after:
                        self.wfile.flush()
                        self.connection.shutdown(2)
                        self.close_connection = True
                        return
                    if reply.hang_after is not None and index == reply.hang_after:
                        stub._closed.wait()
                        self.close_connection = True
                        return
                    if reply.delay:
                        time.sleep(reply.delay)
                    choice = {"index": 0, "delta": {"content": delta}, "finish_reason": None}
                    event({"choices": [choice]})
                last = {"index": 0, "delta": {}, "finish_reason": reply.finish_reason}
                event({"choices": [last]})
                if reply.usage and body.get("stream_options", {}).get("include_usage"):
                    event({"choices": [], "usage": reply.usage})
                self._write(b"data: [DONE]\n\n", False)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def take(self, body: dict[str, Any]) -> Reply:
        """The reply to a request (the lock held): the first queued one that fits it
        (one without `asked` fits any), else the default."""
        question = last_question(body)
        for index, reply in enumerate(self.replies):
            if reply.asked is None or reply.asked in question:
                return self.replies.pop(index)
        return self.responder(body) if self.responder is not None else Reply()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()


def last_question(body: dict[str, Any]) -> str:
    """The text of a chat completions request's last user message ('' when none)."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    content = users[-1].get("content", "") if users else ""
    return content if isinstance(content, str) else json.dumps(content)
