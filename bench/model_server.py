"""An OpenAI-compatible streaming model on loopback that answers on a known schedule.

    python bench/model_server.py --port 0 --log requests.jsonl \
        [--first-token-ms 300] [--tps 30] [--no-delay]

Pure asyncio (one event loop, no thread per request), HTTP/1.1 with keep-alive.
`POST /v1/chat/completions` with `stream: true` is answered the way
tests/support/openai_stub.py answers it: server-sent events in chunked transfer
encoding, the role delta first, one event per content token, `finish_reason: stop`,
a usage chunk when `stream_options.include_usage` is set, then `data: [DONE]`.

The answer to a prompt is deterministic and computable from the prompt alone
(`reply_tokens`), so a client can check what it received. Token k of an answer is
written at the absolute time `arrival + first_token_delay + k / tps` (each deadline
is computed from the arrival, so lateness never accumulates); `--no-delay` (or
`--tps 0`) writes them as fast as the connection takes them.

Every request is logged as one JSON line when it ends: the prompt `key`, the wall
`arrival` time (time.time()), the wall times of the first and last token, the
offsets of every token's write from the arrival (`emit`, seconds) and this
server's own scheduling lag for the request (`max_lag_ms`: how late the event loop
woke up for a token deadline), so a report can show the model was not the bottleneck.

`GET /stats` answers the totals so far (requests, active streams, worst lag, CPU
seconds). Prints `READY <port>` on stdout once it listens; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import re
import resource
import signal
import sys
import time
from typing import Any, TextIO

DEFAULT_TOKENS = 150
_TOKENS_RE = re.compile(r"\btokens=(\d+)\b")

# Mostly ASCII words with a few non-ASCII ones (accents, CJK, an emoji): a reply
# must survive UTF-8 cut across TCP writes and every chunking mode.
WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "stream",
    "token", "socket", "channel", "answer", "model", "server", "client", "redis", "daphne",
    "café", "naïve", "über", "señor", "東京", "数据", "Ωmega", "smörgås", "🚀",
]  # fmt: skip


def prompt_tokens(prompt: str) -> int:
    """How many tokens the answer to `prompt` has: `tokens=<n>` in it, else 150."""
    match = _TOKENS_RE.search(prompt)
    return int(match.group(1)) if match else DEFAULT_TOKENS


def reply_tokens(prompt: str) -> list[str]:
    """The answer to `prompt`, token by token: a function of the prompt alone.

    Tokens look like " word17"; sentences of 6-14 tokens end with ". " and about one
    in three sentence ends starts the next token with a newline instead of a space,
    so `sentence` and `line` chunking have boundaries. The first token carries a
    digest of the prompt, so two prompts never share an answer's start.
    """
    digest = hashlib.sha256(prompt.encode()).digest()
    rng = random.Random(digest)
    count = max(1, prompt_tokens(prompt))
    tokens = [f"R{digest[:4].hex()}"]
    until_end = rng.randint(6, 14)
    separator = " "
    for index in range(1, count):
        word = f"{rng.choice(WORDS)}{rng.randrange(100)}"
        until_end -= 1
        if until_end <= 0 or index == count - 1:
            word += "."
            until_end = rng.randint(6, 14)
        tokens.append(separator + word)
        separator = ("\n" if rng.random() < 0.34 else " ") if word.endswith(".") else " "
    if not tokens[-1].endswith("."):
        tokens[-1] += "."
    return tokens


def reply_text(prompt: str) -> str:
    return "".join(reply_tokens(prompt))


# --- The server ---------------------------------------------------------------------


def sse_chunk(data: str) -> bytes:
    """One server-sent event as one chunk of a chunked HTTP body."""
    raw = b"data: " + data.encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(raw), raw)


class TokenEvents:
    """The content events of one answer, each encoded when it is due (a few
    microseconds), so that many requests arriving at once cost the loop little."""

    def __init__(self, base: dict[str, Any], tokens: list[str]) -> None:
        choice = {"index": 0, "delta": {"content": "\x00"}, "finish_reason": None}
        template = json.dumps({**base, "choices": [choice]}, ensure_ascii=False)
        self.before, self.after = template.split(json.dumps("\x00"))
        self.tokens = tokens

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> bytes:
        text = json.dumps(self.tokens[index], ensure_ascii=False)
        return sse_chunk(self.before + text + self.after)


class ModelServer:
    def __init__(self, *, first_token: float, tps: float, log: TextIO) -> None:
        self.first_token = first_token
        self.interval = 1.0 / tps if tps > 0 else 0.0
        self.log = log
        self.requests = 0
        self.active = 0
        self.max_lag = 0.0
        self.connections: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while await self.one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:  # shutting down: end quietly
            pass
        finally:
            self.connections.discard(writer)
            writer.close()

    async def one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection should close."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length") or 0))
        arrival_wall, arrival = time.time(), asyncio.get_running_loop().time()
        keep_alive = headers.get("connection", "").lower() != "close"
        if method == "GET" and path == "/stats":
            self.send_json(writer, 200, self.stats())
        elif method != "POST" or path.rstrip("/") != "/v1/chat/completions":
            self.send_json(writer, 404, {"error": {"message": "not found", "type": "bench"}})
        else:
            try:
                request = json.loads(body)
            except ValueError:
                self.send_json(writer, 400, {"error": {"message": "bad json", "type": "bench"}})
                return keep_alive
            if not request.get("stream"):
                self.send_json(writer, 400, {"error": {"message": "stream only", "type": "bench"}})
                return keep_alive
            await self.stream(writer, request, arrival_wall, arrival)
        await writer.drain()
        return keep_alive and not writer.is_closing()

    def send_json(self, writer: asyncio.StreamWriter, status: int, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
        writer.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (status, reason.encode(), len(raw), raw)
        )

    def stats(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "requests": self.requests,
            "active": self.active,
            "max_lag_ms": round(self.max_lag * 1000, 3),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
        }

    async def stream(
        self,
        writer: asyncio.StreamWriter,
        request: dict[str, Any],
        arrival_wall: float,
        arrival: float,
    ) -> None:
        self.requests += 1
        self.active += 1
        prompt = next(
            (
                str(m.get("content") or "")
                for m in reversed(request.get("messages") or [])
                if m.get("role") == "user"
            ),
            "",
        )
        tokens = reply_tokens(prompt)
        base = {
            "id": f"chatcmpl-bench-{self.requests}",
            "object": "chat.completion.chunk",
            "created": int(arrival_wall),
            "model": request.get("model", "bench"),
        }

        def event(payload: dict[str, Any]) -> bytes:
            return sse_chunk(json.dumps({**base, **payload}, ensure_ascii=False))

        payloads = TokenEvents(base, tokens)
        tail = event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (request.get("stream_options") or {}).get("include_usage"):
            prompt_count = sum(len(str(m.get("content") or "")) for m in request["messages"]) // 4
            usage = {
                "prompt_tokens": prompt_count,
                "completion_tokens": len(tokens),
                "total_tokens": prompt_count + len(tokens),
            }
            tail += event({"choices": [], "usage": usage})
        data = b"data: [DONE]\n\n"
        tail += b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)
        role = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
            + event({"choices": [role]})
        )
        emit: list[float] = []
        max_lag = 0.0
        status = "ok"
        try:
            if self.interval:
                max_lag = await self.paced(writer, payloads, arrival, emit)
            else:
                await self.flat_out(writer, payloads, arrival, emit)
            if len(emit) < len(payloads):
                status = "disconnected"
            else:
                writer.write(tail)
        finally:
            self.active -= 1
            self.max_lag = max(self.max_lag, max_lag)
            record = {
                "key": prompt,
                "arrival": arrival_wall,
                "tokens": len(tokens),
                "sent": len(emit),
                "first": arrival_wall + emit[0] if emit else None,
                "last": arrival_wall + emit[-1] if emit else None,
                "max_lag_ms": round(max_lag * 1000, 3),
                "status": status,
                "emit": [round(x, 5) for x in emit],
            }
            self.log.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.log.flush()

    async def paced(
        self,
        writer: asyncio.StreamWriter,
        payloads: TokenEvents,
        arrival: float,
        emit: list[float],
    ) -> float:
        """Token k at arrival + first_token + k * interval, on the loop's timers."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        state = {"lag": 0.0}

        def fire(index: int) -> None:
            now = loop.time()
            deadline = arrival + self.first_token + index * self.interval
            if writer.is_closing():
                done.set_result(None)
                return
            state["lag"] = max(state["lag"], now - deadline)
            writer.write(payloads[index])
            emit.append(loop.time() - arrival)
            if index + 1 < len(payloads):
                next_deadline = arrival + self.first_token + (index + 1) * self.interval
                loop.call_at(next_deadline, fire, index + 1)
            else:
                done.set_result(None)

        loop.call_at(arrival + self.first_token, fire, 0)
        await done
        return state["lag"]

    async def flat_out(
        self,
        writer: asyncio.StreamWriter,
        payloads: TokenEvents,
        arrival: float,
        emit: list[float],
    ) -> None:
        loop = asyncio.get_running_loop()
        for index in range(len(payloads)):
            payload = payloads[index]
            if writer.is_closing():
                return
            writer.write(payload)
            emit.append(loop.time() - arrival)
            if index % 8 == 7:
                await writer.drain()


async def serve(args: argparse.Namespace, log: TextIO) -> None:
    tps = 0.0 if args.no_delay else args.tps
    model = ModelServer(first_token=args.first_token_ms / 1000, tps=tps, log=log)
    server = await asyncio.start_server(
        model.handle, "127.0.0.1", args.port, backlog=4096, limit=1 << 20
    )
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
        server.close()
        for writer in list(model.connections):
            writer.close()
    print(json.dumps({"stats": model.stats()}), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", required=True, help="JSON-lines request log (appended)")
    parser.add_argument("--first-token-ms", type=float, default=300.0)
    parser.add_argument("--tps", type=float, default=30.0, help="tokens per second; 0 = no delay")
    parser.add_argument("--no-delay", action="store_true", help="emit as fast as possible")
    args = parser.parse_args(argv)
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(args.log, "a", encoding="utf-8") as log:
        asyncio.run(serve(args, log))


if __name__ == "__main__":
    main()
