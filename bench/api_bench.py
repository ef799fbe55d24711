"""API benchmark: the latency the SSE and /v1 paths add to the WebSocket's, in one run.

    python bench/api_bench.py [--users 20] [--messages 3] [--rounds 3] [--processes 1]
                              [--modes token[,sentence]] [--out-dir bench/results]

The environment is load_bench's (bench/load_bench.py, whose pieces this imports): the
loopback model server (bench/model_server.py) answering at a fixed pace (first token
after --first-token-ms, then one token every --token-delay-ms), real Daphne
processes with ChatOpenAI pointed at it, the Redis channel layer ($REDIS_URL, else a
throwaway redis-server) and PostgreSQL (a database --db-name, dropped and migrated
first, on the server of BENCH_DATABASE_URL or DATABASE_URL; SQLite when none answers).
N users are created, each with a logged-in session and a personal API token.

Three transports run the same workload, in rounds that take turns (the order rotates
each round, so drift and warm-up hit all three alike):
- `ws`: the browser's WebSocket, /ws/chat/<id>/?chunk=<mode> (an `Authorization:
  Bearer` handshake without Origin where the server accepts it, else the session
  cookie with the site's Origin, as load_bench connects; --ws-auth);
- `sse`: POST /api/conversations/<id>/messages/ read as server-sent events (httpx);
- `v1`: POST /v1/chat/completions with stream=true and include_usage, through the
  official `openai` AsyncOpenAI client (base_url <server>/v1, api_key the token).
In a round every user sends --messages messages one after another, all users at
once (WS and SSE: into a fresh conversation per round; /v1 makes one per request).
Connections are opened (the socket with its history; for HTTP one authenticated
request) before the clock starts, as a client that has been open a while.

Per answer: TTFT as the client sees it (request sent -> first character of text),
total (request sent -> the answer's end: the `end` frame or event, `data: [DONE]`),
and message -> model (request sent -> the model server got the model call, from its
log). Every answer is checked: status complete, the text equal to the answer the model
server computes for the prompt and to the saved answer read back through GET
/api/conversations/<id>/ with the token (and, on the socket, no seq gap). Daphne's CPU
seconds (/proc/<pid>/stat) are taken over each round's timed phase.

Output: a markdown table (p50/p95 of TTFT, total and message -> model per transport,
server CPU per round, the ratios SSE/WS and /v1/WS) on stdout and in
<out-dir>/api_bench.md, every figure in <out-dir>/api_bench.json. No timing is
asserted; the exit status is 1 when any answer is lost, wrong or failed (each is
listed loudly). --profile runs Daphne under py-spy (one flame graph for the run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import queue
import resource
import shlex
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from load_bench import (  # noqa: E402
    CHILDREN,
    PYTHON,
    START_PHASES,
    DbAgent,
    ModelServer,
    base_server_env,
    code_description,
    find_database,
    log,
    machine,
    migrate,
    percentile,
    phases_between,
    proc_cpu_seconds,
    raise_priority,
    redis_url,
    start_model_server,
    start_phases,
    start_servers,
)
from model_server import reply_text  # noqa: E402

TRANSPORTS = ("ws", "sse", "v1")
LABELS = {"ws": "WebSocket", "sse": "SSE POST", "v1": "/v1 (openai client)"}
SETUP_CONCURRENCY = 20  # connections opened at once per round (Twisted's backlog is 50)


# --- The client side (one worker process, at the harness's priority) ----------------------


def worker_main(requests: Any, replies: Any) -> None:
    """Runs rounds on request until told to stop: {"round": spec} -> reply dict."""
    raise_priority()
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    while True:
        spec = requests.get()
        if spec is None:
            return
        try:
            replies.put(asyncio.run(run_round(spec)))
        except BaseException as exc:  # report, never hang the harness
            replies.put({"failed": f"{type(exc).__name__}: {exc}"})


class Worker:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.requests = ctx.Queue()
        self.replies = ctx.Queue()
        self.process = ctx.Process(
            target=worker_main, args=(self.requests, self.replies), daemon=True
        )
        self.process.start()
        CHILDREN.mp_procs.append(self.process)

    def run(self, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.requests.put(spec)
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self.replies.get(timeout=1)
            except queue.Empty:
                if not self.process.is_alive():
                    raise RuntimeError("the client process died") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"a round took over {timeout:.0f} s") from None
                continue
            if "failed" in reply:
                raise RuntimeError(f"client process: {reply['failed']}")
            return reply

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.requests.put(None)
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        with contextlib.suppress(ValueError):
            CHILDREN.mp_procs.remove(self.process)


def new_answer(user: dict[str, Any], k: int, prompt: str, conversation: str | None) -> dict:
    return {
        "user": user["idx"],
        "k": k,
        "prompt": prompt,
        "conversation": conversation,
        "answer_id": None,
        "sent": None,
        "first": None,
        "end": None,
        "text": "",
        "pieces": [],  # (received, text) per text-bearing frame, event or chunk
        "status": None,
        "errors": [],
    }


class WsUser:
    """One user's socket on its conversation."""

    def __init__(self, user: dict[str, Any], spec: dict[str, Any]) -> None:
        self.user = user
        self.spec = spec
        self.ws: Any = None

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        user, port = self.user, self.user["port"]
        url = f"ws://127.0.0.1:{port}/ws/chat/{user['conversation']}/?chunk={self.spec['mode']}"
        if self.spec["ws_auth"] == "bearer":  # a script: the token, no Origin
            extra: dict[str, Any] = {
                "additional_headers": {"Authorization": f"Bearer {user['token']}"}
            }
        else:  # as the browser (and load_bench): the session cookie and the site's Origin
            extra = {
                "origin": f"http://127.0.0.1:{port}",
                "additional_headers": {"Cookie": f"sessionid={user['session']}"},
            }
        self.ws = await connect(
            url,
            compression=None,
            proxy=None,
            ping_interval=None,
            open_timeout=60,
            close_timeout=2,
            max_size=None,
            **extra,
        )
        history = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
        if history.get("type") != "history":
            raise RuntimeError(f"first frame is {history.get('type')!r}, not history")

    async def ask(self, answer: dict[str, Any]) -> None:
        frame = json.dumps({"type": "user_message", "content": answer["prompt"]})
        answer["sent"] = time.time()
        await self.ws.send(frame)
        seqs: list[int] = []
        while True:
            frame = json.loads(await self.ws.recv())
            kind = frame.get("type")
            if kind == "start":
                answer["answer_id"] = frame.get("message_id")
            elif kind == "chunk":
                if frame.get("message_id") != answer["answer_id"]:
                    answer["errors"].append("a chunk of another message")
                    continue
                seqs.append(frame.get("seq"))
                if frame.get("text"):
                    received = time.time()
                    if answer["first"] is None:
                        answer["first"] = received
                    answer["text"] += frame["text"]
                    answer["pieces"].append((received, frame["text"]))
            elif kind == "error":
                answer["errors"].append(f"error frame {frame.get('code')!r}: {frame}")
            elif kind == "end":
                answer["end"] = time.time()
                answer["status"] = frame.get("status")
                if seqs != list(range(len(seqs))):
                    answer["errors"].append(f"seq not 0..{len(seqs) - 1} in order")
                return

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def sse_frames(lines: list[str]) -> tuple[str, dict[str, Any]] | None:
    """One server-sent event (its lines) as (event type, JSON data); None for none."""
    event, data = "", []
    for line in lines:
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if not data:
        return None
    frame = json.loads("\n".join(data))
    return event or frame.get("type", ""), frame


class SseUser:
    """One user's httpx client: POST a message, read the answer's events."""

    def __init__(self, user: dict[str, Any], spec: dict[str, Any]) -> None:
        import httpx

        self.user = user
        self.spec = spec
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{user['port']}",
            headers={"Authorization": f"Bearer {user['token']}"},
            timeout=httpx.Timeout(60, read=spec["answer_timeout"]),
            trust_env=False,
        )

    async def open(self) -> None:
        response = await self.client.get("/api/models/")  # the connection, authenticated
        response.raise_for_status()

    async def ask(self, answer: dict[str, Any]) -> None:
        url = f"/api/conversations/{self.user['conversation']}/messages/"
        body = {"content": answer["prompt"], "chunk": self.spec["mode"]}
        answer["sent"] = time.time()
        async with self.client.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                answer["errors"].append(f"HTTP {response.status_code}: {response.text[:300]}")
                return
            lines: list[str] = []
            async for line in response.aiter_lines():
                if line:
                    lines.append(line)
                    continue
                event = sse_frames(lines)
                lines = []
                if event is None:
                    continue
                kind, frame = event
                if kind == "start":
                    answer["answer_id"] = frame.get("message_id")
                elif kind == "chunk":
                    if frame.get("message_id") != answer["answer_id"]:
                        answer["errors"].append("a chunk of another message")
                    elif frame.get("text"):
                        received = time.time()
                        if answer["first"] is None:
                            answer["first"] = received
                        answer["text"] += frame["text"]
                        answer["pieces"].append((received, frame["text"]))
                elif kind == "error":
                    answer["errors"].append(f"error event {frame.get('code')!r}: {frame}")
                elif kind == "end":
                    answer["end"] = time.time()
                    answer["status"] = frame.get("status")
            # The stream ends after the `end` event; read to its close, untimed, so the
            # connection is kept for the next message.
        if answer["end"] is None:
            answer["errors"].append("the stream closed without an end event")

    async def close(self) -> None:
        await self.client.aclose()


class V1User:
    """One user's official OpenAI client on this server's /v1."""

    def __init__(self, user: dict[str, Any], spec: dict[str, Any]) -> None:
        import httpx
        from openai import AsyncOpenAI

        self.user = user
        self.spec = spec
        self.client = AsyncOpenAI(
            base_url=f"http://127.0.0.1:{user['port']}/v1",
            api_key=user["token"],
            max_retries=0,
            timeout=httpx.Timeout(60, read=spec["answer_timeout"]),
            http_client=httpx.AsyncClient(trust_env=False),
        )
        self.model = ""

    async def open(self) -> None:
        models = await self.client.models.list()  # the connection, authenticated
        self.model = models.data[0].id

    async def ask(self, answer: dict[str, Any]) -> None:
        answer["sent"] = time.time()
        raw = await self.client.chat.completions.with_raw_response.create(
            model=self.model,
            messages=[{"role": "user", "content": answer["prompt"]}],
            stream=True,
            stream_options={"include_usage": True},
        )
        answer["conversation"] = raw.headers.get("x-conversation-id")
        stream = raw.parse()  # the headers are in; the body is read as it streams
        finish = None
        usage = None
        async for chunk in stream:
            if answer["answer_id"] is None and chunk.id.startswith("chatcmpl-"):
                answer["answer_id"] = str(uuid.UUID(chunk.id.removeprefix("chatcmpl-")))
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    received = time.time()
                    if answer["first"] is None:
                        answer["first"] = received
                    answer["text"] += choice.delta.content
                    answer["pieces"].append((received, choice.delta.content))
                if choice.finish_reason:
                    finish = choice.finish_reason
        # The openai client's iteration ends at `data: [DONE]` (an error event raises).
        answer["end"] = time.time()
        answer["status"] = "complete" if finish == "stop" else f"finish_reason {finish!r}"
        if usage is None:
            answer["errors"].append("no usage chunk (include_usage)")

    async def close(self) -> None:
        await self.client.close()


CLIENTS = {"ws": WsUser, "sse": SseUser, "v1": V1User}


async def run_round(spec: dict[str, Any]) -> dict[str, Any]:
    """One round of one transport: open every user's connection, then (the clock
    starts) every user sends its messages one after another, all users at once; then,
    untimed, read the saved answers back."""
    import httpx

    transport = spec["transport"]
    limit = asyncio.Semaphore(SETUP_CONCURRENCY)
    clients = {u["idx"]: CLIENTS[transport](u, spec) for u in spec["users"]}
    answers: list[dict[str, Any]] = []
    setup_errors: list[str] = []

    async def open_one(client: Any) -> None:
        async with limit:
            try:
                await client.open()
            except Exception as exc:
                setup_errors.append(f"user {client.user['idx']}: open: {type(exc).__name__}: {exc}")

    async def user_loop(client: Any) -> None:
        user = client.user
        for k in range(spec["messages"]):
            prompt = (
                f"apibench {spec['tag']} {transport} {spec['mode']} user {user['idx']} "
                f"message {k} tokens={spec['tokens']}"
            )
            conversation = user["conversation"] if transport != "v1" else None
            answer = new_answer(user, k, prompt, conversation)
            answers.append(answer)
            try:
                async with asyncio.timeout(spec["answer_timeout"]):
                    await client.ask(answer)
            except TimeoutError:
                answer["errors"].append(f"no end in {spec['answer_timeout']:.0f} s")
            except Exception as exc:
                answer["errors"].append(f"{type(exc).__name__}: {exc}")
            if answer["end"] is None:
                return  # this user's next message would only be refused as busy

    pids = spec["pids"]
    try:
        await asyncio.gather(*(open_one(c) for c in clients.values()))
        cpu_before = sum(proc_cpu_seconds(p) for p in pids)
        own_before = time.process_time()
        began = time.time()
        await asyncio.gather(*(user_loop(c) for c in clients.values()))
        ended = time.time()
        cpu = sum(proc_cpu_seconds(p) for p in pids) - cpu_before
        own = time.process_time() - own_before
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)

    # Untimed: the saved conversations, through the API with each user's token.
    saved: dict[str, Any] = {}
    tokens = {u["idx"]: u["token"] for u in spec["users"]}
    port = {u["idx"]: u["port"] for u in spec["users"]}
    wanted = {(a["user"], a["conversation"]) for a in answers if a["conversation"]}
    async with httpx.AsyncClient(timeout=60, trust_env=False) as http:

        async def read_back(user: int, conversation: str) -> None:
            async with limit:
                try:
                    response = await http.get(
                        f"http://127.0.0.1:{port[user]}/api/conversations/{conversation}/",
                        headers={"Authorization": f"Bearer {tokens[user]}"},
                    )
                    response.raise_for_status()
                    saved[conversation] = [
                        m for m in response.json()["messages"] if m["role"] == "assistant"
                    ]
                except Exception as exc:
                    saved[conversation] = f"read back: {type(exc).__name__}: {exc}"

        await asyncio.gather(*(read_back(u, c) for u, c in wanted))
    return {
        "answers": answers,
        "saved": saved,
        "setup_errors": setup_errors,
        "cpu": cpu,
        "client_cpu": own,
        "phase": ended - began,
    }


# --- Checking and figures ------------------------------------------------------------------


def check(answer: dict[str, Any], saved: dict[str, Any], expected_saved: int) -> str:
    """What is wrong with one answer ("" when nothing is)."""
    if answer["errors"]:
        return "; ".join(answer["errors"][:3])
    if answer["end"] is None:
        return "no end"
    if answer["status"] != "complete":
        return f"status {answer['status']!r}"
    if answer["first"] is None:
        return "no text"
    if answer["text"] != reply_text(answer["prompt"]):
        return "text differs from the answer the model sent (lost, doubled or foreign text)"
    if not answer["conversation"] or not answer["answer_id"]:
        return "no conversation or answer id"
    found = saved.get(answer["conversation"])
    if isinstance(found, str):
        return found
    if found is None:
        return "conversation not read back"
    if len(found) != expected_saved:
        return f"{len(found)} saved answers in the conversation, not {expected_saved}"
    mine = [m for m in found if m["id"] == answer["answer_id"]]
    if not mine:
        return "the streamed answer is not saved"
    if mine[0]["status"] != "complete":
        return f"saved status {mine[0]['status']!r}"
    if mine[0]["content"] != answer["text"]:
        return "streamed text differs from the saved answer"
    return ""


def pct(values: list[float]) -> dict[str, Any]:
    def ms(v: float) -> float | None:
        return None if math.isnan(v) else round(v * 1000, 1)

    return {
        "p50": ms(percentile(values, 50)),
        "p95": ms(percentile(values, 95)),
        "max": ms(max(values)) if values else None,
        "n": len(values),
    }


def summarize(
    transport: str, mode: str, rounds: list[dict[str, Any]], model: ModelServer
) -> dict[str, Any]:
    ttft, total, to_model = [], [], []
    correct = count = 0
    problems: list[str] = []
    for rnd in rounds:
        problems += rnd["setup_errors"]
        expected_saved = 1 if transport == "v1" else rnd["messages"]
        prompts = {a["prompt"] for a in rnd["answers"] if a["sent"]}
        records = model.requests(prompts, wait=2.0)
        lost = rnd["users"] * rnd["messages"] - len(rnd["answers"])
        if lost:
            problems.append(f"round {rnd['round']}: {lost} messages never sent (a user stopped)")
        count += rnd["users"] * rnd["messages"]
        for answer in rnd["answers"]:
            problem = check(answer, rnd["saved"], expected_saved)
            if problem:
                problems.append(
                    f"round {rnd['round']} user {answer['user']} message {answer['k']}: {problem}"
                )
            else:
                correct += 1
            sent = answer["sent"]
            if sent is None:
                continue
            if answer["first"] is not None:
                ttft.append(answer["first"] - sent)
            if answer["end"] is not None:
                total.append(answer["end"] - sent)
            record = records.get(answer["prompt"])
            if record is not None:
                to_model.append(record["arrival"] - sent)
    cpu = [r["cpu"] for r in rounds]
    return {
        "transport": transport,
        "mode": mode,
        "answers": count,
        "correct": correct,
        "ttft_ms": pct(ttft),
        "total_ms": pct(total),
        "to_model_ms": pct(to_model),
        "rounds": len(rounds),
        "cpu_s_per_round": round(sum(cpu) / len(cpu), 3) if cpu else None,
        "cpu_ms_per_answer": round(sum(cpu) / count * 1000, 2) if count else None,
        "client_cpu_s_per_round": round(sum(r["client_cpu"] for r in rounds) / len(rounds), 3)
        if rounds
        else None,
        "problems": problems,
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for mode in dict.fromkeys(r["mode"] for r in rows):
        by = {r["transport"]: r for r in rows if r["mode"] == mode}
        ws = by.get("ws")
        if ws is None:
            continue
        for other in ("sse", "v1"):
            row = by.get(other)
            if row is None:
                continue
            found[f"{other}/ws {mode}"] = {
                "ttft_p50": ratio(row["ttft_ms"]["p50"], ws["ttft_ms"]["p50"]),
                "ttft_p95": ratio(row["ttft_ms"]["p95"], ws["ttft_ms"]["p95"]),
                "total_p50": ratio(row["total_ms"]["p50"], ws["total_ms"]["p50"]),
                "total_p95": ratio(row["total_ms"]["p95"], ws["total_ms"]["p95"]),
                "cpu": ratio(row["cpu_s_per_round"], ws["cpu_s_per_round"]),
                "ttft_p50_added_ms": diff(row["ttft_ms"]["p50"], ws["ttft_ms"]["p50"]),
                "total_p50_added_ms": diff(row["total_ms"]["p50"], ws["total_ms"]["p50"]),
            }
    return found


def diff(a: float | None, b: float | None) -> float | None:
    return round(a - b, 1) if a is not None and b is not None else None


def fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def render(report: dict[str, Any]) -> str:
    m, w = report["machine"], report["workload"]
    lines = [
        f"Measured {m['date']} on {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
        f"code {report['code']}, with `{report['command']}`.",
        "",
        f"{w['users']} users × {w['messages']} messages one after another, all users at "
        f"once, {w['rounds']} rounds per transport taking turns; answers of {w['tokens']} "
        f"tokens, first after {w['first_token_ms']:g} ms, then one every "
        f"{w['token_delay_ms']:g} ms (ideal answer {w['ideal_answer_s']:.2f} s); "
        f"{w['processes']} Daphne process(es), {report['database']}, {report['redis']}; "
        f"WebSocket auth: {report['ws_auth']}.",
        "",
        "| transport | chunk | answers OK | TTFT p50 | TTFT p95 | total p50 | total p95 "
        "| msg→model p50 | msg→model p95 | server CPU s/round | CPU ms/answer |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {LABELS[r['transport']]} | {r['mode']} | {r['correct']}/{r['answers']} "
            f"| {fmt(r['ttft_ms']['p50'])} | {fmt(r['ttft_ms']['p95'])} "
            f"| {fmt(r['total_ms']['p50'])} | {fmt(r['total_ms']['p95'])} "
            f"| {fmt(r['to_model_ms']['p50'], 1)} | {fmt(r['to_model_ms']['p95'], 1)} "
            f"| {fmt(r['cpu_s_per_round'], 2)} | {fmt(r['cpu_ms_per_answer'], 1)} |"
        )
    lines += [
        "",
        "Times in ms. Ratios to the WebSocket in the same run (added: the difference of "
        "the p50s, ms):",
        "",
        "| ratio | TTFT p50 | TTFT p95 | total p50 | total p95 | CPU/round "
        "| TTFT p50 added (ms) | total p50 added (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["ratios"].items():
        other, _, mode = name.partition(" ")
        label = f"{LABELS[other.split('/')[0]]} / WebSocket, {mode}"
        lines.append(
            f"| {label} | {fmt(r['ttft_p50'], 2)} | {fmt(r['ttft_p95'], 2)} "
            f"| {fmt(r['total_p50'], 3)} | {fmt(r['total_p95'], 3)} | {fmt(r['cpu'], 2)} "
            f"| {fmt(r['ttft_p50_added_ms'], 1)} | {fmt(r['total_p50_added_ms'], 1)} |"
        )
    lines += start_phase_table(report.get("start_phases", {}))
    return "\n".join(lines)


def start_phase_table(phases: dict[str, dict[str, float]]) -> list[str]:
    """The server's own time from the message to the model request, by phase (its
    /metrics: chat_answer_start_seconds), mean ms per answer."""
    doors = sorted({key.split("/")[0] for key in phases}, key=lambda d: (d != "websocket", d))
    if not doors:
        return []
    lines = [
        "",
        "The server's own start, by phase (its `chat_answer_start_seconds`, mean ms per "
        "answer; chat/telemetry/startpath.py): auth = the session or token checked again, "
        "exchange = admitted, saved and the context read, begin = announced, the answer's "
        "task and control group, the model request built and handed to its connection.",
        "",
        "| door | answers | " + " | ".join(START_PHASES) + " |",
        "|---|---:|" + "---:|" * len(START_PHASES),
    ]
    for door in doors:
        count = int(phases.get(f"{door}/total", {}).get("count", 0))
        cells = [fmt(phases.get(f"{door}/{p}", {}).get("mean_ms"), 2) for p in START_PHASES]
        lines.append(f"| {door} | {count} | " + " | ".join(cells) + " |")
    return lines


# --- Main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--messages", type=int, default=3, help="per user and round")
    parser.add_argument("--rounds", type=int, default=3, help="per transport and mode")
    parser.add_argument("--processes", type=int, default=1, help="Daphne processes")
    parser.add_argument("--modes", default="token", help="token[,sentence,line,clause]")
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    parser.add_argument("--tokens", type=int, default=100, help="tokens per answer")
    parser.add_argument("--token-delay-ms", type=float, default=30.0)
    parser.add_argument("--first-token-ms", type=float, default=300.0)
    parser.add_argument(
        "--ws-auth",
        default="auto",
        choices=["auto", "bearer", "session"],
        help="the socket's login: the API token without Origin, the session cookie with "
        "the site's Origin, or (auto) the token where the server takes it",
    )
    parser.add_argument(
        "--answer-timeout", type=float, default=0, help="seconds (0: 60 + 3 × the ideal)"
    )
    parser.add_argument("--db-name", default="chat_apibench")
    parser.add_argument("--out-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--profile", action="store_true", help="Daphne under py-spy")
    parser.add_argument(
        "--profile-format", default="flamegraph", choices=["flamegraph", "speedscope", "raw"]
    )
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples/s")
    args = parser.parse_args(argv)
    args.modes = [m for m in args.modes.split(",") if m]
    args.transports = [t for t in args.transports.split(",") if t]
    for mode in args.modes:
        if mode not in {"token", "line", "sentence", "clause"}:
            parser.error(f"unknown chunk mode {mode!r}")
    for transport in args.transports:
        if transport not in TRANSPORTS:
            parser.error(f"unknown transport {transport!r}")
    for item in args.server_env:
        if "=" not in item:
            parser.error(f"--server-env needs KEY=VALUE, not {item!r}")
    return args


def ws_bearer_accepted(port: int, user: dict[str, Any]) -> bool:
    """Does this server sign a socket in by its Bearer header (no Origin)?"""
    from websockets.asyncio.client import connect

    async def attempt() -> bool:
        url = f"ws://127.0.0.1:{port}/ws/chat/{user['conversation']}/"
        try:
            async with connect(
                url,
                additional_headers={"Authorization": f"Bearer {user['token']}"},
                proxy=None,
                open_timeout=30,
            ) as ws:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                return frame.get("type") == "history"
        except Exception:
            return False

    return asyncio.run(attempt())


def run(args: argparse.Namespace, workdir: Path) -> int:
    out_dir = Path(args.out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python bench/api_bench.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    database = find_database()
    tps = 1000 / args.token_delay_ms if args.token_delay_ms > 0 else 0
    ideal = args.first_token_ms / 1000 + args.tokens * args.token_delay_ms / 1000
    answer_timeout = args.answer_timeout or 60 + 3 * ideal
    problems: list[str] = []
    with redis_url() as (redis, redis_note):
        env = base_server_env(redis, args.server_env)
        env.update(database.env_for(args.db_name, workdir))
        log(f"migrating {args.db_name} ({database.describe})")
        migrate(ROOT, env, workdir / "migrate.log")
        agent = DbAgent(ROOT, env, workdir / "agent.log")
        model = start_model_server(workdir, "model", args.first_token_ms, tps)
        env["OPENAI_BASE_URL"] = model.base_url
        profile = None
        if args.profile:
            spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
            suffix = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}[args.profile_format]
            profile = (
                f"{spy} record --rate {args.profile_rate} --format {args.profile_format} "
                f"-o {out_dir / f'api_bench_profile.{suffix}'}"
            )
        servers = start_servers(args.processes, ROOT, env, workdir, "api", profile)
        worker = Worker()
        try:
            tag = uuid.uuid4().hex[:6]
            accounts = agent.setup(f"api-{tag}", args.users + 1)
            names = [a["username"] for a in accounts]
            tokens = agent.tokens(names, name="api_bench")
            users = [
                {
                    "idx": i,
                    "port": servers[i % len(servers)].port,
                    "session": a["session"],
                    "token": t,
                    "conversation": a["conversation"],
                }
                for i, (a, t) in enumerate(zip(accounts, tokens, strict=True))
            ]
            warm, users = users[-1:], users[:-1]
            ws_auth = args.ws_auth
            if ws_auth == "auto":
                ws_auth = "bearer" if ws_bearer_accepted(warm[0]["port"], warm[0]) else "session"
            ws_note = {
                "bearer": "`Authorization: Bearer <token>`, no Origin",
                "session": "the session cookie and the site's Origin (this server does not "
                "take a Bearer handshake)"
                if args.ws_auth == "auto"
                else "the session cookie and the site's Origin",
            }[ws_auth]
            log(f"WebSocket auth: {ws_note}")
            pids = [s.pid for s in servers]
            base = {
                "tokens": args.tokens,
                "answer_timeout": answer_timeout,
                "ws_auth": ws_auth,
                "pids": pids,
            }
            # Warm-up: one short answer per transport and mode through every server.
            for mode in args.modes:
                for transport in args.transports:
                    if transport == "v1" and mode != "token":
                        continue
                    warm_users = [dict(warm[0], idx=0, port=s.port) for s in servers]
                    for wu, conversation in zip(
                        warm_users, agent.conversations([names[-1]] * len(servers)), strict=True
                    ):
                        wu["conversation"] = conversation
                    spec = {
                        **base,
                        "transport": transport,
                        "mode": mode,
                        "users": warm_users,
                        "messages": 1,
                        "tokens": 3,
                        "tag": f"{tag} warm-up",
                    }
                    reply = worker.run(spec, answer_timeout + 120)
                    for answer in reply["answers"]:
                        problem = check(answer, reply["saved"], 1)
                        if problem:
                            problems.append(f"warm-up {transport} {mode}: {problem}")
                    problems += [f"warm-up {transport} {mode}: {e}" for e in reply["setup_errors"]]
            model.requests(set(), wait=0)
            model.records.clear()

            per: dict[tuple[str, str], list[dict[str, Any]]] = {}
            # The servers' own start, by phase (chat_answer_start_seconds): [count, seconds].
            start_by_phase: dict[str, list[float]] = {}
            order_log: list[str] = []
            for mode in args.modes:
                transports = [t for t in args.transports if t != "v1" or mode == "token"]
                for rnd in range(args.rounds):
                    shift = rnd % len(transports)
                    for transport in transports[shift:] + transports[:shift]:
                        if transport != "v1":
                            for user, conversation in zip(
                                users, agent.conversations(names[: len(users)]), strict=True
                            ):
                                user["conversation"] = conversation
                        spec = {
                            **base,
                            "transport": transport,
                            "mode": mode,
                            "users": users,
                            "messages": args.messages,
                            "tag": f"{tag} r{rnd}",
                        }
                        log(f"{transport} {mode} round {rnd + 1}/{args.rounds} ...")
                        timeout = answer_timeout * args.messages + 300
                        ports = [s.port for s in servers]
                        phases_before = start_phases(ports)
                        reply = worker.run(spec, timeout)
                        observed = phases_between(phases_before, start_phases(ports))
                        for (door, phase), (count, seconds) in observed.items():
                            entry = start_by_phase.setdefault(f"{door}/{phase}", [0.0, 0.0])
                            entry[0] += count
                            entry[1] += seconds
                        reply.update(round=rnd + 1, users=len(users), messages=args.messages)
                        per.setdefault((transport, mode), []).append(reply)
                        order_log.append(f"{transport}/{mode}")
                        done = [a for a in reply["answers"] if a["end"] is not None]
                        log(
                            f"  {len(done)}/{len(users) * args.messages} answers ended in "
                            f"{reply['phase']:.1f} s, server CPU {reply['cpu']:.2f} s"
                        )
        finally:
            worker.close()
            for server in servers:
                server.stop()
            CHILDREN.stop(model.process)
            agent.close()

    rows = [summarize(t, m, rounds, model) for (t, m), rounds in per.items()]
    rows.sort(key=lambda r: (args.modes.index(r["mode"]), TRANSPORTS.index(r["transport"])))
    for server in servers:
        errors = [
            line
            for line in server.log_path.read_text(errors="replace").splitlines()
            if "ERROR" in line or "Traceback" in line
        ]
        if errors:
            problems.append(f"{server.name}: {len(errors)} error lines, first: {errors[0][:300]}")
    report = {
        "command": command,
        "machine": machine(),
        "code": code_description(),
        "database": database.describe,
        "redis": redis_note,
        "ws_auth": ws_note,
        "workload": {
            "users": args.users,
            "messages": args.messages,
            "rounds": args.rounds,
            "processes": args.processes,
            "modes": args.modes,
            "tokens": args.tokens,
            "token_delay_ms": args.token_delay_ms,
            "first_token_ms": args.first_token_ms,
            "ideal_answer_s": round(ideal, 3),
            "order": order_log,
        },
        "rows": rows,
        "ratios": ratios(rows),
        "start_phases": {
            key: {"count": int(count), "mean_ms": round(seconds / count * 1000, 3)}
            for key, (count, seconds) in sorted(start_by_phase.items())
            if count
        },
        "problems": problems,
    }
    markdown = render(report)
    (out_dir / "api_bench.md").write_text(markdown + "\n")
    (out_dir / "api_bench.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print()
    print(markdown)
    print()
    log(f"wrote {out_dir / 'api_bench.md'} and api_bench.json; server logs in {workdir}")
    bad = [r for r in rows if r["correct"] != r["answers"] or r["problems"]]
    for r in bad:
        log(
            f"!!! NOT ALL CORRECT: {r['transport']} {r['mode']}: "
            f"{r['correct']}/{r['answers']} answers complete and equal to the saved text"
        )
        for problem in r["problems"][:10]:
            log(f"!!!     {problem}")
    for problem in problems:
        log(f"!!! {problem}")
    return 1 if bad or problems else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    workdir = Path(tempfile.mkdtemp(prefix="chat-api-bench-"))
    log(f"logs in {workdir}")
    try:
        return run(args, workdir)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        CHILDREN.kill_all()


if __name__ == "__main__":
    sys.exit(main())
