"""Load benchmark: N users streaming at once over real WebSockets into real Daphne servers.

    python bench/load_bench.py [--users 1,10,50,100,200,500,1000] [--processes 1,2]
                               [--before-ref f59f16e] [--out-dir docs]

What runs, all on loopback:
- `bench/model_server.py`, an OpenAI-compatible streaming server that answers on a
  known schedule (first token after 300 ms, then 30 tokens/s, 150 tokens; an answer is
  a function of the prompt alone) and logs when it wrote every token;
- one or two `python -m daphne chatsite.asgi:application` processes per measured row,
  with ChatOpenAI pointed at that model server, PostgreSQL (a dedicated database
  `chat_bench`, dropped and migrated at the start; a temporary SQLite file when no
  PostgreSQL answers) and Redis ($REDIS_URL, else a throwaway redis-server);
- load clients (the `websockets` library) in 1-2 separate processes: every user is
  created with a logged-in session and a conversation through the Django ORM
  (`bench/db_agent.py`), connected and has its `history` before the clock starts;
  then all send one `user_message` at the same moment and read their answer.

Measured per chunk frame: lateness = receive time - the time the model server wrote
the last character of that chunk. Per row: lateness p50/p99/max, time to first
chunk, user_message -> model request, delivered tokens/s against the ideal (N x tps),
server CPU seconds per 1,000 delivered tokens (/proc/<pid>/stat over the streaming
phase), peak RSS (VmHWM), and correctness: the chunks joined in seq order equal the
saved answer and the answer expected for the prompt, status `complete`, no repeated
seq. Also: the knee (largest N with p99 lateness < 100 ms), flat out (the model with
no delay: the most tokens/s one process relays, `token` and `sentence` chunking),
RSS per idle socket, and the raw channel layer on the same Redis as a baseline.

Every phase is bounded: a row is timed for at most `--window` seconds after the send
(default: the ideal answer time + 60 s); what has not arrived by then counts as at
least that late (the report marks such figures `≥`). This checkout's unfinished
answers are then read for up to `--drain` seconds more (untimed) so they can still be
checked; the version before (`--before-ref`) is only measured in the window.

The figures go to <out-dir>/performance.md between `<!-- bench:begin -->` and
`<!-- bench:end -->` (the rest of the file is kept) and a plot to
<out-dir>/performance.png. No timing is asserted; the exit status is 1 when any row of
this checkout is not N/N correct (rows of the version before are reported, not
judged). Server logs stay in a temporary directory (printed).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import re
import resource
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(ROOT))  # tests.support.redis_server

from model_server import reply_tokens  # noqa: E402

PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_START_TIMEOUT = 60.0
CONNECT_CONCURRENCY = 25  # per client process: below Twisted's listen backlog (50)
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/postgres"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Child processes -----------------------------------------------------------------


class Children:
    """Every process the benchmark starts, so all of them die with it."""

    def __init__(self) -> None:
        self.popens: list[subprocess.Popen[Any]] = []
        self.mp_procs: list[Any] = []

    def add(self, process: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        self.popens.append(process)
        return process

    def stop(
        self, process: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 15
    ) -> None:
        """Signal a process, give it `grace` seconds, then kill it."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        with contextlib.suppress(ValueError):
            self.popens.remove(process)

    def kill_all(self) -> None:
        for proc in self.mp_procs:
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=5)
        self.mp_procs.clear()
        for process in reversed(self.popens):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
        for process in reversed(self.popens):
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
        self.popens.clear()


CHILDREN = Children()


HARNESS_NICE = -5  # the model server and the load clients: timed, never starved


def raise_priority() -> None:
    """Run ahead of the servers under test when allowed (root); else leave it be."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, HARNESS_NICE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# The phases of chat_answer_start_seconds (chat/telemetry/startpath.py), in order.
START_PHASES = ("auth", "exchange", "begin", "total")
START_PHASE_RE = re.compile(
    r'^chat_answer_start_seconds_(count|sum)\{door="(\w+)",phase="(\w+)"\} (\S+)$', re.M
)


def start_phases(ports: list[int]) -> dict[tuple[str, str], list[float]]:
    """The servers' `chat_answer_start_seconds` (chat/telemetry/startpath.py): per
    (door, phase), [count, sum of seconds], added over the servers' /metrics (an
    unreadable server counts nothing)."""
    found: dict[tuple[str, str], list[float]] = {}
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except (OSError, urllib.error.URLError):
            continue
        for kind, door, phase, value in START_PHASE_RE.findall(text):
            entry = found.setdefault((door, phase), [0.0, 0.0])
            entry[0 if kind == "count" else 1] += float(value)
    return found


def phases_between(
    before: dict[tuple[str, str], list[float]], after: dict[tuple[str, str], list[float]]
) -> dict[tuple[str, str], list[float]]:
    """What was observed between two `start_phases` readings."""
    return {
        key: [value[0] - before.get(key, [0.0, 0.0])[0], value[1] - before.get(key, [0.0, 0.0])[1]]
        for key, value in after.items()
    }


def proc_status_kib(pid: int, key: str) -> int:
    """A `kB` line of /proc/<pid>/status (VmRSS, VmHWM), in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(x) for x in (task / "children").read_text().split()]
    return found


def read_line(stream: IO[str], timeout: float, what: str) -> str:
    """One line from a child's pipe, or TimeoutError: a hung child never hangs the run."""
    if not select.select([stream], [], [], timeout)[0]:
        raise TimeoutError(f"{what} did not answer in {timeout:.0f} s")
    return stream.readline()


# --- Services: database, Redis, the model server ---------------------------------------


@dataclass
class Database:
    kind: str  # "postgresql" or "sqlite"
    describe: str
    admin_url: str = ""  # PostgreSQL: the server's maintenance database

    def env_for(self, name: str, workdir: Path) -> dict[str, str]:
        """Drop and create database `name`; the servers' environment for it."""
        if self.kind == "sqlite":
            path = workdir / f"{name}.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return {"SQLITE_PATH": str(path)}
        import psycopg
        from psycopg import sql

        ident = sql.Identifier(name)
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        parts = urlsplit(self.admin_url)
        return {"DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}"))}


def find_database() -> Database:
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE
    if url.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(url)
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        try:
            import psycopg

            with psycopg.connect(admin_url, connect_timeout=3) as conn:
                version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            host = parts.hostname or "localhost"
            return Database("postgresql", f"PostgreSQL {version} on {host}", admin_url)
        except Exception as exc:
            log(f"no PostgreSQL at {parts.hostname}:{parts.port or 5432} ({exc}): using SQLite")
            return Database("sqlite", f"SQLite (no PostgreSQL answered at {parts.hostname})")
    return Database("sqlite", "SQLite (DATABASE_URL is not PostgreSQL)")


@contextlib.contextmanager
def redis_url() -> Iterator[tuple[str, str]]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url, "Redis at $REDIS_URL"
        return
    from tests.support.redis_server import throwaway_redis

    with throwaway_redis() as url:
        yield url, "a throwaway redis-server"


@dataclass
class ModelServer:
    process: subprocess.Popen[str]
    port: int
    log_path: Path
    offset: int = 0  # how far the request log has been read
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def read_log(self) -> None:
        with self.log_path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].splitlines():
            record = json.loads(line)
            self.records[record["key"]] = record

    def requests(self, prompts: set[str], wait: float = 5.0) -> dict[str, dict[str, Any]]:
        """The logged requests for these prompts (a request is logged when its stream
        ends, or soon after its client went away); waits a little for late ones."""
        deadline = time.monotonic() + wait
        self.read_log()
        while not prompts <= self.records.keys() and time.monotonic() < deadline:
            time.sleep(0.2)
            self.read_log()
        return {p: self.records.pop(p) for p in prompts if p in self.records}


def start_model_server(workdir: Path, name: str, first_token_ms: float, tps: float) -> ModelServer:
    log_path = workdir / f"{name}.jsonl"
    log_path.touch()
    command = [PYTHON, str(BENCH_DIR / "model_server.py"), "--port", "0", "--log", str(log_path)]
    command += ["--first-token-ms", str(first_token_ms), "--tps", str(tps)]
    stderr = (workdir / f"{name}.log").open("w")
    process = CHILDREN.add(
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, preexec_fn=raise_priority
        )
    )
    stderr.close()
    line = read_line(process.stdout, 30, "the model server") if process.stdout else ""
    if not line.startswith("READY "):
        raise RuntimeError(f"the model server did not start: {line!r}")
    return ModelServer(process, int(line.split()[1]), log_path)


class DbAgent:
    """bench/db_agent.py for one checkout: users, sessions, conversations; saved answers."""

    def __init__(self, root: Path, env: dict[str, str], log_path: Path) -> None:
        self.stderr = log_path.open("w")
        self.process = CHILDREN.add(
            subprocess.Popen(
                [PYTHON, str(BENCH_DIR / "db_agent.py"), "--root", str(root)],
                cwd=root,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                text=True,
            )
        )
        # Each version's agent imports that version's chat package, never this one's.
        imported = self.call(None).get("chat", "")
        if Path(imported).resolve() != (root / "chat").resolve():
            raise RuntimeError(f"the database agent for {root} imported chat from {imported!r}")

    def call(self, request: dict[str, Any] | None, timeout: float = 300) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        if request is not None:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        line = read_line(self.process.stdout, timeout, "the database agent")
        if not line:
            raise RuntimeError(f"the database agent died (see {self.stderr.name})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"database agent: {reply['error']}")
        return reply

    def setup(self, prefix: str, n: int) -> list[dict[str, str]]:
        return self.call({"cmd": "setup", "prefix": prefix, "n": n})["users"]

    def tokens(self, usernames: list[str], name: str = "bench") -> list[str]:
        """An API token for each user (raw tokens, in order)."""
        return self.call({"cmd": "tokens", "usernames": usernames, "name": name})["tokens"]

    def conversations(self, usernames: list[str]) -> list[str]:
        """A new empty conversation for each user (ids, in order)."""
        return self.call({"cmd": "conversations", "usernames": usernames})["conversations"]

    def answers(self, conversations: list[str]) -> dict[str, list[dict[str, Any]]]:
        return self.call({"cmd": "answers", "conversations": conversations})["answers"]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call({"cmd": "quit"})
        CHILDREN.stop(self.process)
        self.stderr.close()


# --- Daphne ------------------------------------------------------------------------------


@dataclass
class Daphne:
    name: str
    port: int
    process: subprocess.Popen[bytes]  # daphne, or py-spy running daphne
    log_path: Path
    profiled: bool = False
    pid: int = 0  # daphne's own pid

    def answers_http(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/accounts/login/", timeout=2
            ) as response:
                return response.status < 500
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except OSError:
            return False

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 15) -> None:
        if self.profiled and self.pid and self.process.poll() is None:
            # Stop daphne itself: py-spy then writes the profile and exits.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=120 if grace > 5 else grace)
        CHILDREN.stop(self.process, signal.SIGINT if self.profiled else signal.SIGTERM, grace)


def start_servers(
    count: int, root: Path, env: dict[str, str], workdir: Path, label: str, profile: str | None
) -> list[Daphne]:
    servers = []
    for index in range(count):
        port = free_port()
        name = f"{label}-daphne{index + 1}"
        log_path = workdir / f"{name}.log"
        command = [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        command.append("chatsite.asgi:application")
        if profile:
            command = [*shlex.split(profile), "--", *command]
        with log_path.open("wb") as log_file:
            process = CHILDREN.add(
                subprocess.Popen(
                    command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT
                )
            )
        servers.append(Daphne(name, port, process, log_path, profiled=bool(profile)))
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    for server in servers:
        while not server.answers_http():
            if server.process.poll() is not None or time.monotonic() > deadline:
                for s in servers:
                    s.stop()
                raise RuntimeError(f"{server.name} did not start. Its log:\n{server.log_tail()}")
            time.sleep(0.1)
        server.pid = server.process.pid
        if server.profiled:
            kids = child_pids(server.process.pid)
            server.pid = kids[0] if kids else 0
    return servers


# --- Load clients (separate processes) ---------------------------------------------------


def client_process(spec: dict[str, Any], events: Any, go: Any) -> None:
    """A load client process: connect its users, wait for `go`, send, read, report."""
    raise_priority()
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        asyncio.run(_client(spec, events, go))
    except BaseException as exc:  # report, never hang the benchmark
        events.put(("failed", spec["index"], f"{type(exc).__name__}: {exc}"))


async def _client(spec: dict[str, Any], events: Any, go: Any) -> None:
    from websockets.asyncio.client import connect

    users = spec["users"]
    index = spec["index"]
    sockets: dict[int, Any] = {}
    results: dict[int, dict[str, Any]] = {
        u["idx"]: {"idx": u["idx"], "errors": [], "frames": [], "raw": []} for u in users
    }
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one(user: dict[str, Any]) -> None:
        url = f"ws://127.0.0.1:{user['port']}/ws/chat/{user['conversation']}/?chunk={spec['mode']}"
        async with limit:
            try:
                ws = await connect(
                    url,
                    origin=f"http://127.0.0.1:{user['port']}",  # type: ignore[arg-type]
                    additional_headers={"Cookie": f"sessionid={user['session']}"},
                    compression=None,
                    proxy=None,
                    ping_interval=None,
                    open_timeout=60,
                    close_timeout=2,
                    max_size=None,
                    max_queue=256,
                )
                history = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if history.get("type") != "history":
                    raise RuntimeError(f"first frame is {history.get('type')!r}, not history")
                sockets[user["idx"]] = ws
            except Exception as exc:
                results[user["idx"]]["errors"].append(f"connect: {type(exc).__name__}: {exc}")

    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(spec["connect_timeout"]):
            await asyncio.gather(*(open_one(u) for u in users))
    except TimeoutError:
        pass
    events.put(("ready", index, len(sockets)))
    started = await asyncio.to_thread(go.wait, spec["go_timeout"])
    if not started:
        events.put(("failed", index, "no go signal"))
        return
    if spec["send"]:
        # Timed until every answer ended or the window closed; then, for at most
        # `drain` seconds more, read on untimed so the answers can still be checked.
        window_end = loop.time() + spec["window"]
        deadline = window_end + spec["drain"]
        cutoff = time.time() + spec["window"] + spec["drain"]

        async def read(user: dict[str, Any], ws: Any) -> None:
            result = results[user["idx"]]
            result["cutoff"] = cutoff
            raw = result["raw"]
            try:
                async with asyncio.timeout_at(deadline):
                    while True:
                        message = await ws.recv()
                        now = time.time()
                        # Chunk frames are decoded after the run: less client work
                        # while timing them.
                        if message.startswith('{"type": "chunk"'):
                            raw.append((now, message))
                            continue
                        frame = json.loads(message)
                        result["frames"].append((now, frame))
                        if frame.get("type") == "end":
                            return
            except TimeoutError:
                result["errors"].append(
                    f"no end frame in {spec['window'] + spec['drain']:.0f} s (cut)"
                )
            except Exception as exc:
                result["errors"].append(f"read: {type(exc).__name__}: {exc}")

        readers = []
        for user in users:
            ws = sockets.get(user["idx"])
            if ws is None:
                continue
            frame = json.dumps({"type": "user_message", "content": user["prompt"]})
            results[user["idx"]]["sent"] = time.time()
            try:
                await ws.send(frame)
            except Exception as exc:
                results[user["idx"]]["errors"].append(f"send: {type(exc).__name__}: {exc}")
                continue
            readers.append(asyncio.create_task(read(user, ws)))
        if readers:
            await asyncio.wait(readers, timeout=max(0.0, window_end - loop.time()))
    events.put(("done", index, time.time(), time.process_time()))
    if spec["send"] and readers:
        await asyncio.wait(readers)  # each ends by `deadline`
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)
    for result in results.values():
        chunks = []
        for now, message in result.pop("raw"):
            frame = json.loads(message)
            chunks.append((now, frame.get("seq"), frame.get("text", ""), frame.get("message_id")))
        result["chunks"] = chunks
    events.put(("result", index, list(results.values())))


def run_clients(
    users: list[dict[str, Any]],
    *,
    clients: int,
    mode: str,
    send: bool,
    connect_timeout: float,
    window: float,
    drain: float = 0.0,
    on_ready: Any = None,
    on_done: Any = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the users in client processes. on_ready() runs once all are connected, just
    before the go signal, on_done() once every client has its answers (before the
    sockets close); their return values are in the timings as `before` and `after`."""
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    go = ctx.Event()
    count = max(1, min(clients, len(users)))
    procs = []
    for index in range(count):
        spec = {
            "index": index,
            # Contiguous blocks: with two servers each client talks to both.
            "users": users[index * len(users) // count : (index + 1) * len(users) // count],
            "mode": mode,
            "send": send,
            "connect_timeout": connect_timeout,
            "go_timeout": connect_timeout + 60,
            "window": window,
            "drain": drain,
        }
        proc = ctx.Process(target=client_process, args=(spec, events, go), daemon=True)
        proc.start()
        CHILDREN.mp_procs.append(proc)
        procs.append(proc)
    timings: dict[str, Any] = {"connected": 0, "client_cpu": 0.0}
    results: list[dict[str, Any]] = []
    failures: list[str] = []

    received: dict[str, list[Any]] = {"ready": [], "done": [], "result": []}

    def wait_for(kind: str, timeout: float) -> list[Any]:
        """All `count` events of a kind; events of later kinds are kept for later."""
        deadline = time.monotonic() + timeout
        while len(received[kind]) < count:
            try:
                event = events.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"client processes: no {kind} in {timeout:.0f} s") from None
                continue
            if event[0] == "failed":
                raise RuntimeError(f"client process {event[1]} failed: {event[2]}")
            received[event[0]].append(event)
        return received[kind]

    try:
        ready = wait_for("ready", connect_timeout + 60)
        timings["connected"] = sum(e[2] for e in ready)
        timings["before"] = on_ready() if on_ready else None
        timings["go"] = time.time()
        go.set()
        done = wait_for("done", window + 60)
        timings["after"] = on_done() if on_done else None
        timings["done"] = max(e[2] for e in done)
        timings["client_cpu"] = sum(e[3] for e in done)
        results = [r for e in wait_for("result", drain + 120) for r in e[2]]
    except (TimeoutError, RuntimeError) as exc:
        failures.append(str(exc))
    except BaseException:  # interrupted: no waiting
        for proc in procs:
            proc.kill()
        raise
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
            with contextlib.suppress(ValueError):
                CHILDREN.mp_procs.remove(proc)
    timings["failures"] = failures
    return results, timings


# --- One measured row ----------------------------------------------------------------------


@dataclass
class Variant:
    name: str  # "after" (this checkout) or "before"
    label: str  # what the report calls it
    root: Path
    env: dict[str, str]
    agent: DbAgent | None = None


@dataclass
class Row:
    variant: str
    processes: int
    users: int
    mode: str
    tokens: int
    tps: float
    correct: int = 0
    lateness: list[float] = field(default_factory=list, repr=False)
    ttft: list[float] = field(default_factory=list, repr=False)
    to_model: list[float] = field(default_factory=list, repr=False)
    delivered: int = 0
    frames: int = 0
    window: float = 0.0
    cpu: float = 0.0
    model_cpu: float = 0.0
    client_cpu: float = 0.0
    phase: float = 0.0
    measured_until: float = 0.0  # wall time the timed phase ended (CPU, tokens/s)
    censored: int = 0  # lateness/TTFT values that are lower bounds (never delivered)
    unfinished: int = 0  # answers without an end frame by the deadline
    hwm_kib: int = 0
    model_lag_ms: float = 0.0
    failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    problems: list[str] = field(default_factory=list)
    # The servers' own start by phase (chat_answer_start_seconds, the WebSocket door):
    # phase -> mean ms per answer; empty for code without that metric.
    start_ms: dict[str, float] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.delivered / self.window if self.window > 0 else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.window if self.window > 0 else 0.0

    @property
    def cpu_per_1k(self) -> float:
        return self.cpu / self.delivered * 1000 if self.delivered else float("nan")

    def stats(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "processes": self.processes,
            "users": self.users,
            "mode": self.mode,
            "tokens": self.tokens,
            "tps": self.tps,
            "correct": self.correct,
            "unfinished": self.unfinished,
            "censored": self.censored,
            "lateness_ms": pct_ms(self.lateness),
            "ttft_ms": pct_ms(self.ttft),
            "to_model_ms": pct_ms(self.to_model),
            "delivered_tokens": self.delivered,
            "tokens_per_s": round(self.tokens_per_s, 1),
            "ideal_tokens_per_s": self.users * self.tps if self.tps else None,
            "frames_per_s": round(self.frames_per_s, 1),
            "cpu_seconds": round(self.cpu, 3),
            "phase_s": round(self.phase, 2),
            "model_cpu_seconds": round(self.model_cpu, 3),
            "client_cpu_seconds": round(self.client_cpu, 3),
            "cpu_per_1k_tokens": round(self.cpu_per_1k, 4),
            "peak_rss_mib": round(self.hwm_kib / 1024, 1),
            "model_max_lag_ms": self.model_lag_ms,
            "elapsed_s": round(self.elapsed, 1),
            "problems": self.problems[:20],
            "failures": self.failures,
            "start_phases_ms": self.start_ms,
        }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


def pct_ms(values: list[float]) -> dict[str, float | None]:
    def ms(v: float) -> float | None:
        return None if math.isnan(v) else round(v * 1000, 1)

    return {
        "p50": ms(percentile(values, 50)),
        "p99": ms(percentile(values, 99)),
        "max": ms(max(values)) if values else None,
        "n": len(values),
    }


@dataclass
class Config:
    args: argparse.Namespace
    workdir: Path
    redis: str
    server_env: dict[str, str]
    row_index: int = 0


def measure(
    cfg: Config,
    variant: Variant,
    model: ModelServer,
    *,
    processes: int,
    users: int,
    tokens: int,
    tps: float,
    first_token_ms: float,
    mode: str,
    profile_name: str | None = None,
) -> Row:
    args = cfg.args
    cfg.row_index += 1
    started = time.monotonic()
    tag = f"{variant.name}{cfg.row_index}-{uuid.uuid4().hex[:6]}"
    row = Row(variant.name, processes, users, mode, tokens, tps)
    env = {**variant.env, "OPENAI_BASE_URL": model.base_url}
    profile = None
    if profile_name and args.profile and processes == 1:
        out = Path(args.profile_dir).resolve()
        out.mkdir(parents=True, exist_ok=True)
        suffix = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}[args.profile_format]
        profile = (
            f"{shutil.which('py-spy') or Path(PYTHON).parent / 'py-spy'} record --rate 100 "
            f"--format {args.profile_format} -o {out / f'{profile_name}.{suffix}'}"
        )
    servers = start_servers(processes, variant.root, env, cfg.workdir, tag, profile)
    completed = cut = False
    try:
        assert variant.agent is not None
        accounts = variant.agent.setup(tag, users + processes)
        # One short answer per server first: lazy imports and first connections are
        # not part of what is measured.
        warm = asyncio.run(warm_up(servers, accounts[users:], f"warm-up {tag}"))
        row.problems += warm
        accounts = accounts[:users]
        plan = []
        for i, account in enumerate(accounts):
            prompt = f"bench {tag} user {i} tokens={tokens}"
            plan.append(
                {
                    "idx": i,
                    "port": servers[i % processes].port,
                    "session": account["session"],
                    "conversation": account["conversation"],
                    "prompt": prompt,
                }
            )
        ideal = first_token_ms / 1000 + (tokens / tps if tps else 0)
        window = args.window or (ideal + 60)
        # This checkout's answers are read to their end (bounded) to check them; the
        # version before is measured in the window only.
        drain = args.drain if variant.name == "after" else 0.0
        pids = [s.pid for s in servers]
        model_pid = model.process.pid

        def sample() -> dict[str, Any]:
            return {
                "cpu": sum(proc_cpu_seconds(p) for p in pids),
                "model_cpu": proc_cpu_seconds(model_pid),
                "logs": [s.log_path.stat().st_size for s in servers],
                "phases": start_phases([s.port for s in servers]),
            }

        results, timings = run_clients(
            plan,
            clients=args.clients,
            mode=mode,
            send=True,
            connect_timeout=30 + users * 0.1,
            window=window,
            drain=drain,
            on_ready=sample,
            on_done=sample,
        )
        before, after = timings.get("before"), timings.get("after")
        if before and after:
            row.cpu = after["cpu"] - before["cpu"]
            row.model_cpu = after["model_cpu"] - before["model_cpu"]
            row.phase = timings["done"] - timings["go"]
            row.measured_until = timings["done"]
            observed = phases_between(before["phases"], after["phases"])
            row.start_ms = {
                phase: round(seconds / count * 1000, 2)
                for (door, phase), (count, seconds) in sorted(observed.items())
                if door == "websocket" and count
            }
        row.client_cpu = timings["client_cpu"]
        row.hwm_kib = max(proc_status_kib(p, "VmHWM") for p in pids)
        row.failures = list(timings["failures"])
        # Answers still streaming: nothing to wait for, their row is measured.
        cut = any("(cut)" in e for r in results for e in r["errors"]) or row.failures
        completed = True
    finally:
        for server in servers:
            server.stop(15 if completed and not cut else 2)
    for index, server in enumerate(servers):
        # Log lines written while the answers streamed, and after (sockets closing,
        # shutdown): reported apart.
        data = server.log_path.read_bytes()
        cut = after["logs"][index] if after else len(data)
        for part, when in ((data[:cut], "while streaming"), (data[cut:], "at teardown")):
            errors = [
                line
                for line in part.decode(errors="replace").splitlines()
                if "ERROR" in line or "Traceback" in line or "WARNING" in line
            ]
            if errors:
                row.problems.append(
                    f"{server.name}: {len(errors)} warning/error lines {when}, first: "
                    f"{errors[0][:300]}"
                )
    analyse(row, plan, results, variant.agent.answers([p["conversation"] for p in plan]), model)
    row.elapsed = time.monotonic() - started
    return row


async def warm_up(servers: list[Daphne], accounts: list[dict[str, str]], prompt: str) -> list[str]:
    """One short answer through each server; returns what went wrong."""
    from websockets.asyncio.client import connect

    async def one(server: Daphne, account: dict[str, str]) -> str:
        url = f"ws://127.0.0.1:{server.port}/ws/chat/{account['conversation']}/"
        try:
            async with asyncio.timeout(60):
                async with connect(
                    url,
                    origin=f"http://127.0.0.1:{server.port}",  # type: ignore[arg-type]
                    additional_headers={"Cookie": f"sessionid={account['session']}"},
                    compression=None,
                    proxy=None,
                ) as ws:
                    await ws.recv()
                    content = f"{prompt} {server.name} tokens=3"
                    await ws.send(json.dumps({"type": "user_message", "content": content}))
                    while True:
                        frame = json.loads(await ws.recv())
                        if frame["type"] == "end":
                            status = frame.get("status")
                            return "" if status == "complete" else f"warm-up ended {status!r}"
        except Exception as exc:
            return f"warm-up of {server.name} failed: {type(exc).__name__}: {exc}"

    found = await asyncio.gather(*(one(s, a) for s, a in zip(servers, accounts, strict=True)))
    return [problem for problem in found if problem]


def analyse(
    row: Row,
    plan: list[dict[str, Any]],
    results: list[dict[str, Any]],
    saved: dict[str, list[dict[str, Any]]],
    model: ModelServer,
) -> None:
    by_idx = {r["idx"]: r for r in results}
    requests = model.requests({u["prompt"] for u in plan if by_idx.get(u["idx"], {}).get("sent")})
    first_chunk, last_chunk = math.inf, -math.inf
    # CPU and tokens/s cover the timed phase; lateness covers everything seen, and what
    # was never seen counts as late as the deadline (a lower bound: `censored`).
    until = row.measured_until or math.inf
    lags = [0.0]
    for user in plan:
        result = by_idx.get(user["idx"])
        tokens = reply_tokens(user["prompt"])
        expected = "".join(tokens)
        problem = ""
        if result is None:
            row.problems.append(f"user {user['idx']}: no result from its client")
            continue
        request = requests.get(user["prompt"])
        if request is not None:
            lags.append(request["max_lag_ms"])
        frames = result["frames"]
        start = next((f for _, f in frames if f.get("type") == "start"), None)
        end = next((f for _, f in frames if f.get("type") == "end"), None)
        answer_id = start["message_id"] if start else None
        chunks = [c for c in result["chunks"] if c[3] == answer_id]
        seqs = [c[1] for c in chunks]
        text = "".join(c[2] for c in sorted(chunks, key=lambda c: c[1]))
        answers = saved.get(user["conversation"], [])
        if result["errors"]:
            problem = "; ".join(result["errors"][:2])
        elif start is None or end is None:
            problem = "no start or end frame"
        elif len(chunks) != len(result["chunks"]):
            problem = "chunk frames of another message"
        elif seqs != list(range(len(seqs))):
            problem = "seq repeated or out of order" if len(set(seqs)) != len(seqs) else "seq gap"
        elif end.get("status") != "complete":
            problem = f"end status {end.get('status')!r} {end.get('error', '')!r}"
        elif len(answers) != 1 or answers[0]["id"] != answer_id:
            problem = f"{len(answers)} saved answers, not the one streamed"
        elif answers[0]["status"] != "complete":
            problem = f"saved status {answers[0]['status']!r}"
        elif text != answers[0]["content"]:
            problem = "chunks differ from the saved answer"
        elif text != expected:
            problem = "answer differs from the expected text (cross-talk?)"
        errors = [f for _, f in frames if f.get("type") == "error"]
        if errors and not problem:
            problem = f"error frame {errors[0].get('code')!r}"
        if problem:
            row.problems.append(f"user {user['idx']}: {problem}")
        else:
            row.correct += 1
        if end is None:
            row.unfinished += 1
        sent = result.get("sent")
        cutoff = result.get("cutoff", math.inf)
        if sent is None:
            continue
        if request is not None:
            row.to_model.append(request["arrival"] - sent)
        else:
            row.to_model.append(cutoff - sent)
            row.censored += 1
        if chunks:
            row.ttft.append(chunks[0][0] - sent)
        else:
            row.ttft.append(cutoff - sent)
            row.censored += 1
        timed = [c for c in chunks if c[0] <= until]
        if timed:
            first_chunk = min(first_chunk, timed[0][0])
            last_chunk = max(last_chunk, timed[-1][0])
        # Lateness: each chunk against the write time of its last character's token.
        ends = []
        total = 0
        for token in tokens:
            total += len(token)
            ends.append(total)
        position = 0
        emit = request["emit"] if request else []
        emitted = [request["arrival"] + e for e in emit] if request else []
        for received, _, piece, _ in chunks:
            position += len(piece)
            if received <= until:
                row.delivered = row.delivered + (
                    bisect.bisect_right(ends, position)
                    - bisect.bisect_right(ends, position - len(piece))
                )
                row.frames += 1
            if not piece or position > len(expected):
                continue
            k = bisect.bisect_left(ends, position)
            if k < len(emitted):
                row.lateness.append(received - emitted[k])
        # Written by the model before the deadline, never delivered: at least this late.
        for k in range(bisect.bisect_right(ends, position), len(emitted)):
            if emitted[k] < cutoff:
                row.lateness.append(cutoff - emitted[k])
                row.censored += 1
    row.window = last_chunk - first_chunk if last_chunk > first_chunk else 0.0
    row.model_lag_ms = max(lags)


# --- Idle sockets, raw channel layer ---------------------------------------------------


def measure_idle(cfg: Config, variant: Variant, model: ModelServer, sockets: int) -> dict[str, Any]:
    cfg.row_index += 1
    tag = f"{variant.name}{cfg.row_index}-idle-{uuid.uuid4().hex[:6]}"
    env = {**variant.env, "OPENAI_BASE_URL": model.base_url}
    servers = start_servers(1, variant.root, env, cfg.workdir, tag, None)
    server = servers[0]
    completed = False
    try:
        assert variant.agent is not None
        accounts = variant.agent.setup(tag, sockets + 1)
        plan = [
            {
                "idx": i,
                "port": server.port,
                "session": a["session"],
                "conversation": a["conversation"],
                "prompt": "",
            }
            for i, a in enumerate(accounts)
        ]
        # One socket first (connected, history, closed): lazy imports and the channel
        # layer's connection are then part of the "before".
        run_clients(plan[:1], clients=1, mode="token", send=False, connect_timeout=30, window=10)
        time.sleep(0.5)
        before = proc_status_kib(server.pid, "VmRSS")
        measured: dict[str, int] = {}

        def at_peak() -> None:
            time.sleep(0.5)
            measured["rss"] = proc_status_kib(server.pid, "VmRSS")

        _, timings = run_clients(
            plan[1:],
            clients=cfg.args.clients,
            mode="token",
            send=False,
            connect_timeout=60 + sockets * 0.1,
            window=10,
            on_ready=at_peak,
        )
        completed = True
    finally:
        server.stop(15 if completed else 1)
    after = measured.get("rss", 0)
    connected = int(timings.get("connected") or 0)
    return {
        "variant": variant.name,
        "sockets": connected,
        "rss_before_mib": round(before / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "kib_per_socket": round((after - before) / connected, 1) if connected else None,
        "failures": timings["failures"],
    }


async def _raw_layer(url: str, messages: int, roundtrips: int) -> dict[str, Any]:
    from channels_redis.pubsub import RedisPubSubChannelLayer

    prefix = f"bench-raw-{uuid.uuid4().hex[:8]}"
    sender = RedisPubSubChannelLayer(hosts=[url], prefix=prefix)
    receiver = RedisPubSubChannelLayer(hosts=[url], prefix=prefix)
    try:
        channel = await receiver.new_channel()
        await receiver.group_add("bench", channel)
        await asyncio.sleep(0.2)  # the subscription is live
        payload = {"type": "chat.delta", "message_id": "x" * 36, "offset": 0, "deltas": [" word1"]}
        # Warm up both connections.
        for _ in range(50):
            await sender.group_send("bench", payload)
            await receiver.receive(channel)

        async def receive_all(count: int) -> float:
            for _ in range(count):
                await receiver.receive(channel)
            return time.perf_counter()

        async def send_all(count: int, window: int = 100) -> None:
            """group_sends with up to `window` in flight: not one round trip each."""
            for start in range(0, count, window):
                batch = min(window, count - start)
                await asyncio.gather(*(sender.group_send("bench", payload) for _ in range(batch)))

        reader = asyncio.create_task(receive_all(messages))
        began = time.perf_counter()
        async with asyncio.timeout(120):
            await send_all(messages)
            finished = await reader
        rate = messages / (finished - began)
        rtts = []
        for _ in range(roundtrips):
            t = time.perf_counter()
            await sender.group_send("bench", payload)
            async with asyncio.timeout(10):
                await receiver.receive(channel)
            rtts.append(time.perf_counter() - t)
        await receiver.group_discard("bench", channel)
        return {
            "messages": messages,
            "messages_per_s": round(rate),
            "roundtrips": roundtrips,
            "rtt_ms": pct_ms(rtts),
        }
    finally:
        for layer in (sender, receiver):
            with contextlib.suppress(Exception):
                await layer.flush()


# --- Report ------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def knee(rows: list[dict[str, Any]]) -> str:
    ok = [r["users"] for r in rows if (r["lateness_ms"]["p99"] or math.inf) < 100]
    return str(max(ok)) if ok else "none"


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": model or platform.processor() or "unknown",
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def git(*args: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    return result.stdout.strip()


def worktree_add(ref: str, workdir: Path, worktrees: list[Path]) -> tuple[Path, str]:
    """A detached worktree of `ref` in `workdir` (added to `worktrees`, for
    worktrees_remove); its path and its label: git REF (sha), “subject”."""
    sha = git("rev-parse", "--short", f"{ref}^{{commit}}")
    if not sha:
        raise RuntimeError(f"unknown git ref {ref!r}")
    path = workdir / f"before-{sha}"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), sha],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    worktrees.append(path)
    label = f"git {ref}" + (f" ({sha})" if sha != ref else "")
    return path, f"{label}, “{git('log', '-1', '--format=%s', sha)}”"


def worktrees_remove(worktrees: list[Path]) -> None:
    for path in worktrees:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)],
            cwd=ROOT,
            capture_output=True,
            timeout=120,
        )
    if worktrees:
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True, timeout=60)


def code_description() -> str:
    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "chat", "chatsite", "requirements.txt")
    return f"{head} + uncommitted changes" if dirty else head


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    w = report["workload"]
    lines = [
        BEGIN,
        "",
        f"Measured {m['date']} with `{report['command']}`.",
        "",
        f"Machine: {m['cores']} cores, {m['cpu']}, Python {m['python']}. Everything ran on "
        "this machine at once: Daphne, the load clients, the model server, PostgreSQL and "
        "Redis share its cores.",
        f"Database: {report['database']}. Redis: {report['redis']}. Server settings: "
        + ", ".join(f"`{k}={v}`" for k, v in report["server_settings"].items())
        + ".",
        "",
        f"Workload: every user sends one message at the same moment (all connected first); "
        f"the model (`bench/model_server.py`) answers {w['tokens']} tokens, the first after "
        f"{w['first_token_ms']:.0f} ms, then {w['tps']:g} tokens/s; chunking `{w['mode']}`. "
        "Lateness = when a chunk frame reached the client minus when the model wrote the last "
        "character in it. TTFT = client send to first chunk. Msg→model = client send to the "
        "model server receiving the request. Tokens/s = delivered tokens over the time from "
        "the first to the last chunk (ideal: N × tps). CPU = user+system seconds of the "
        "Daphne process(es) from the send to the last `end` (or the end of the window), per "
        "1,000 tokens delivered in that time. "
        "Peak RSS = VmHWM of the largest Daphne process. Model lag = the model server's own "
        "worst lateness in writing a token (it was not the bottleneck when this stays small). "
        f"A row is timed for at most {w['window']} after the send (CPU and tokens/s stop "
        "there); this checkout's answers are then read for up to "
        f"{w['drain']:g} s more to check them, the version before's are not. A token or a "
        "first chunk still missing at the end counts as late as that moment: such rows show "
        "`≥` (lower bounds) and `(n cut)` answers without an `end`, which count as not "
        "correct. Correct = the chunks joined in `seq` order equal the saved answer and the "
        "answer expected for the prompt, status `complete`, no repeated `seq`.",
        "",
    ]
    codes = ", ".join(f"**{v['name']}** = {v['label']}" for v in report["variants"])
    lines += [f"Code: {codes}.", ""]
    header = (
        "| code | procs | N | correct | lateness p50 / p99 / max (ms) | TTFT p50 / p99 (ms) "
        "| msg→model p50 / p99 (ms) | tokens/s (ideal) | CPU s / 1k tokens | peak RSS MiB "
        "| model lag ms |"
    )
    lines += [header, "|" + "---|" * 11]
    for r in report["rows"]:
        lat, ttft, tm = r["lateness_ms"], r["ttft_ms"], r["to_model_ms"]
        cut = f" ({r['unfinished']} cut)" if r["unfinished"] else ""

        def ms(value: float | None, row: dict[str, Any] = r) -> str:
            """A figure of the row; `≥` when the row has lower bounds (never delivered)."""
            return ("≥ " if row["censored"] and value is not None else "") + fmt(value)

        lines.append(
            f"| {r['variant']} | {r['processes']} | {r['users']} "
            f"| {r['correct']}/{r['users']}{cut} "
            f"| {ms(lat['p50'])} / {ms(lat['p99'])} / {ms(lat['max'])} "
            f"| {ms(ttft['p50'])} / {ms(ttft['p99'])} | {ms(tm['p50'])} / {ms(tm['p99'])} "
            f"| {fmt(r['tokens_per_s'])} ({fmt(r['ideal_tokens_per_s'])}) "
            f"| {fmt(r['cpu_per_1k_tokens'], 3)} | {fmt(r['peak_rss_mib'])} "
            f"| {fmt(r['model_max_lag_ms'], 1)} |"
        )
    started = [r for r in report["rows"] if r.get("start_phases_ms")]
    if started:
        phases = START_PHASES
        lines += [
            "",
            "The server's own start by phase (its `chat_answer_start_seconds`, the "
            "WebSocket door; mean ms per answer):",
            "",
            "| code | procs | N | " + " | ".join(phases) + " |",
            "|---|---|---|" + "---:|" * len(phases),
        ]
        for r in started:
            cells = " | ".join(fmt(r["start_phases_ms"].get(p), 1) for p in phases)
            lines.append(f"| {r['variant']} | {r['processes']} | {r['users']} | {cells} |")
    lines.append("")
    knees = report["knees"]
    if knees:
        lines.append(
            "Knee (largest N with p99 lateness < 100 ms): "
            + "; ".join(f"{k} → **{v}**" for k, v in knees.items())
            + "."
        )
        lines.append("")
    if report["flat_out"]:
        f0 = report["flat_out"][0]
        lines += [
            f"Flat out (one process, the model with no delay, {f0['users']} users × "
            f"{f0['tokens']} tokens):",
            "",
            "| code | chunking | correct | tokens/s | chunk frames/s | CPU s / 1k tokens "
            "| × raw layer msgs/s |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in report["flat_out"]:
            lines.append(
                f"| {r['variant']} | {r['mode']} | {r['correct']}/{r['users']} "
                f"| {fmt(r['tokens_per_s'])} | {fmt(r['frames_per_s'])} "
                f"| {fmt(r['cpu_per_1k_tokens'], 3)} | {fmt(r.get('vs_raw'), 2)} |"
            )
        lines.append("")
    if report["idle"]:
        lines += [
            "Idle sockets (one process; RSS before connecting vs with every socket open "
            "and its history received):",
            "",
            "| code | sockets | RSS before MiB | RSS after MiB | KiB per socket |",
            "|---|---|---|---|---|",
        ]
        for r in report["idle"]:
            lines.append(
                f"| {r['variant']} | {r['sockets']} | {fmt(r['rss_before_mib'], 1)} "
                f"| {fmt(r['rss_after_mib'], 1)} | {fmt(r['kib_per_socket'], 1)} |"
            )
        lines.append("")
    raw = report["raw_layer"]
    if raw:
        lines += [
            f"Raw channel layer (`RedisPubSubChannelLayer` on the same Redis, one process, "
            f"group of one): {fmt(raw['messages_per_s'])} messages/s pipelined "
            f"({raw['messages']:,} group_sends), round trip p50 {fmt(raw['rtt_ms']['p50'], 2)} ms"
            f" / p99 {fmt(raw['rtt_ms']['p99'], 2)} ms ({raw['roundtrips']:,} sequential).",
            "",
        ]
    if report.get("plot"):
        lines += [f"![p99 lateness and CPU per 1,000 tokens against N]({report['plot']})", ""]
    lines.append(END)
    return "\n".join(lines)


def write_markdown(path: Path, block: str) -> None:
    text = path.read_text() if path.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def plot(report: dict[str, Any], path: Path) -> bool:
    rows = report["rows"]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    series: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        series.setdefault((r["variant"], r["processes"]), []).append(r)
    colors = {"after": "tab:blue", "before": "tab:orange"}
    for (variant, procs), items in sorted(series.items()):
        items.sort(key=lambda r: r["users"])
        xs = [r["users"] for r in items]
        style = {
            "color": colors.get(variant, "tab:gray"),
            "linestyle": "-" if procs == 1 else "--",
            "marker": "o" if procs == 1 else "s",
            "label": f"{variant}, {procs} process{'es' if procs > 1 else ''}",
        }
        ax1.plot(xs, [r["lateness_ms"]["p99"] or float("nan") for r in items], **style)
        ax2.plot(xs, [r["cpu_per_1k_tokens"] for r in items], **style)
        # Rows with answers cut at the window: their p99 is a lower bound (hollow).
        cut = [r for r in items if r["censored"]]
        if cut:
            ax1.plot(
                [r["users"] for r in cut],
                [r["lateness_ms"]["p99"] or float("nan") for r in cut],
                linestyle="none",
                marker=style["marker"],
                markersize=9,
                markerfacecolor="white",
                markeredgecolor=style["color"],
            )
    ax1.axhline(100, color="gray", linewidth=0.8, linestyle=":")
    if any((r["lateness_ms"]["p99"] or 0) > 0 for r in rows):
        ax1.set_yscale("log")
    ax1.set_title("p99 lateness (ms; hollow: at least, answers cut)")
    ax2.set_title("Daphne CPU seconds per 1,000 delivered tokens")
    for ax in (ax1, ax2):
        if max(r["users"] for r in rows) > 1:
            ax.set_xscale("log")
        ax.set_xlabel("users streaming at once (N)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    ax2.set_ylim(bottom=0)
    fig.suptitle(
        f"{report['workload']['tps']:g} tokens/s × {report['workload']['tokens']} tokens, "
        f"{report['machine']['cores']} cores",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --- Main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ints = lambda s: [int(x) for x in s.split(",") if x.strip()]  # noqa: E731
    parser.add_argument("--users", type=ints, default=[1, 10, 50, 100, 200, 500, 1000])
    parser.add_argument("--processes", type=ints, default=[1, 2])
    parser.add_argument("--before-ref", default="", help="also measure this git ref")
    parser.add_argument("--mode", default="token", choices=["token", "line", "sentence", "clause"])
    parser.add_argument("--tokens", type=int, default=150, help="tokens per answer")
    parser.add_argument("--tps", type=float, default=30.0, help="model tokens per second")
    parser.add_argument("--first-token-ms", type=float, default=300.0)
    parser.add_argument("--clients", type=int, default=2, help="load client processes (1-2)")
    parser.add_argument("--flat-out-users", type=int, default=50, help="0 skips flat out")
    parser.add_argument("--flat-out-tokens", type=int, default=600)
    parser.add_argument("--flat-out-modes", default="token,sentence")
    parser.add_argument("--idle-sockets", type=int, default=1000, help="0 skips")
    parser.add_argument("--raw-messages", type=int, default=20000, help="0 skips")
    parser.add_argument("--raw-roundtrips", type=int, default=2000)
    parser.add_argument(
        "--window",
        type=float,
        default=0,
        help="longest timed phase of a row, seconds after the send (0: the ideal answer "
        "time + 60 s); what is not delivered by then counts as at least that late",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=120,
        help="then read this checkout's unfinished answers this much longer (untimed) "
        "to check them; the version before gets no drain",
    )
    parser.add_argument("--db-name", default="chat_bench")
    parser.add_argument("--out-dir", default=str(ROOT / "docs"))
    parser.add_argument(
        "--json",
        default=str(ROOT / "bench" / "results" / "load_bench.json"),
        help="every figure as JSON ('' for none)",
    )
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--profile", action="store_true", help="py-spy each 1-process row")
    parser.add_argument("--profile-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument(
        "--profile-format", default="flamegraph", choices=["flamegraph", "speedscope", "raw"]
    )
    args = parser.parse_args(argv)
    for item in args.server_env:
        if "=" not in item:
            parser.error(f"--server-env needs KEY=VALUE, not {item!r}")
    args.clients = max(1, min(2, args.clients))
    return args


BENCH_SETTINGS = [
    "DEBUG",
    "CHANNEL_LAYER_BACKEND",
    "CHAT_RATE_LIMIT_PER_MINUTE",
    "LOG_LEVEL",
    "LLM_MAX_RETRIES",
]


def base_server_env(redis: str, extra: list[str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "SQLITE_PATH",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "DJANGO_SETTINGS_MODULE",
            "PYTHONPATH",
            "REDIS_URL",
        }
        and not k.lower().endswith("_proxy")
    }
    env.update(
        DEBUG="0",
        SECRET_KEY="bench",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        REDIS_URL=redis,
        CHANNEL_LAYER_BACKEND="pubsub",
        CHAT_RATE_LIMIT_PER_MINUTE="100000",
        LOG_LEVEL="WARNING",
        LLM_MAX_RETRIES="0",
        OPENAI_API_KEY="x",
        PYTHONUNBUFFERED="1",
    )
    env.update(item.split("=", 1) for item in extra)
    return env


def migrate(root: Path, env: dict[str, str], log_path: Path) -> None:
    result = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log_path.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed in {root}:\n{result.stdout}\n{result.stderr}")


def run(args: argparse.Namespace, workdir: Path, worktrees: list[Path]) -> int:
    out_dir = Path(args.out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python bench/load_bench.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    database = find_database()
    with redis_url() as (redis, redis_note):
        base_env = base_server_env(redis, args.server_env)
        cfg = Config(args, workdir, redis, base_env)
        variants = [Variant("after", f"this checkout ({code_description()})", ROOT, {})]
        if args.before_ref:
            path, label = worktree_add(args.before_ref, workdir, worktrees)
            variants.append(Variant("before", label, path, {}))
        for variant in variants:
            name = args.db_name if variant.name == "after" else f"{args.db_name}_before"
            variant.env = {**base_env, **database.env_for(name, workdir)}
            log(f"{variant.name}: migrating {name} ({variant.root})")
            migrate(variant.root, variant.env, workdir / f"migrate-{variant.name}.log")
            agent_log = workdir / f"agent-{variant.name}.log"
            variant.agent = DbAgent(variant.root, variant.env, agent_log)

        report: dict[str, Any] = {
            "command": command,
            "machine": machine(),
            "database": database.describe,
            "redis": redis_note,
            "workload": {
                "tokens": args.tokens,
                "tps": args.tps,
                "first_token_ms": args.first_token_ms,
                "mode": args.mode,
                "window": f"{args.window:g} s" if args.window else "the ideal answer time + 60 s",
                "drain": args.drain,
            },
            "variants": [{"name": v.name, "label": v.label} for v in variants],
            "server_settings": {
                key: base_env.get(key, "")
                for key in [*BENCH_SETTINGS, *(i.split("=", 1)[0] for i in args.server_env)]
            },
            "rows": [],
            "knees": {},
            "flat_out": [],
            "idle": [],
            "raw_layer": None,
        }
        if args.raw_messages:
            log("raw channel layer")
            report["raw_layer"] = asyncio.run(
                _raw_layer(redis, args.raw_messages, args.raw_roundtrips)
            )
            log(f"  {report['raw_layer']}")
        paced = start_model_server(workdir, "model-paced", args.first_token_ms, args.tps)
        for variant in variants:
            # Profiles: profile-<N>.svg, or profile-<before|after>-<N>.svg with two versions.
            prefix = f"{variant.name}-" if args.before_ref else ""
            for processes in args.processes:
                for users in args.users:
                    log(f"{variant.name}: {processes} process(es), {users} users ...")
                    row = measure(
                        cfg,
                        variant,
                        paced,
                        processes=processes,
                        users=users,
                        tokens=args.tokens,
                        tps=args.tps,
                        first_token_ms=args.first_token_ms,
                        mode=args.mode,
                        profile_name=f"profile-{prefix}{users}",
                    )
                    stats = row.stats()
                    report["rows"].append(stats)
                    print_row(stats)
        for variant in variants:
            for processes in args.processes:
                rows = [
                    r
                    for r in report["rows"]
                    if r["variant"] == variant.name and r["processes"] == processes
                ]
                if rows:
                    report["knees"][f"{variant.name}, {processes} proc"] = knee(rows)
        if args.flat_out_users:
            fast = start_model_server(workdir, "model-flat-out", 0, 0)
            for variant in variants:
                prefix = f"{variant.name}-" if args.before_ref else ""
                for mode in [m for m in args.flat_out_modes.split(",") if m]:
                    log(f"{variant.name}: flat out, {mode} ...")
                    row = measure(
                        cfg,
                        variant,
                        fast,
                        processes=1,
                        users=args.flat_out_users,
                        tokens=args.flat_out_tokens,
                        tps=0,
                        first_token_ms=0,
                        mode=mode,
                        profile_name=f"profile-{prefix}flat-out-{mode}",
                    )
                    stats = row.stats()
                    raw = report["raw_layer"]
                    if raw and raw["messages_per_s"]:
                        stats["vs_raw"] = row.frames_per_s / raw["messages_per_s"]
                    report["flat_out"].append(stats)
                    print_row(stats)
            CHILDREN.stop(fast.process)
        if args.idle_sockets:
            for variant in variants:
                log(f"{variant.name}: {args.idle_sockets} idle sockets ...")
                idle = measure_idle(cfg, variant, paced, args.idle_sockets)
                report["idle"].append(idle)
                log(f"  {idle}")
        CHILDREN.stop(paced.process)
        for variant in variants:
            if variant.agent:
                variant.agent.close()

    png = out_dir / "performance.png"
    if plot(report, png):
        report["plot"] = os.path.relpath(png, out_dir)
    markdown = out_dir / "performance.md"
    write_markdown(markdown, render(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1))
    print()
    print(render(report))
    print()
    log(f"wrote {markdown} and {png}; server logs in {workdir}")
    bad = [r for r in report["rows"] + report["flat_out"] if r["correct"] != r["users"]]
    for r in bad:
        log(
            f"NOT ALL CORRECT: {r['variant']} {r['processes']}p N={r['users']} {r['mode']}: "
            f"{r['correct']}/{r['users']}"
        )
        for problem in (r["failures"] + r["problems"])[:8]:
            log(f"    {problem}")
    # The exit status judges this checkout; the version before is shown, not judged.
    failed = [r for r in bad if r["variant"] == "after"]
    if bad and not failed:
        log("every row of this checkout is N/N correct; the version before has rows that are not")
    return 1 if failed else 0


def print_row(stats: dict[str, Any]) -> None:
    lat, ttft = stats["lateness_ms"], stats["ttft_ms"]
    log(
        f"  {stats['variant']} {stats['processes']}p N={stats['users']} {stats['mode']}: "
        f"correct {stats['correct']}/{stats['users']}, lateness p50 {fmt(lat['p50'])} "
        f"p99 {fmt(lat['p99'])} max {fmt(lat['max'])} ms, TTFT p50 {fmt(ttft['p50'])} "
        f"p99 {fmt(ttft['p99'])} ms, msg->model p50 {fmt(stats['to_model_ms']['p50'])} ms, "
        f"{fmt(stats['tokens_per_s'])} tokens/s, CPU {fmt(stats['cpu_per_1k_tokens'], 3)} s/1k, "
        f"RSS {fmt(stats['peak_rss_mib'])} MiB, model lag {stats['model_max_lag_ms']} ms; "
        f"phase {stats['phase_s']} s, CPU daphne {stats['cpu_seconds']} s, model "
        f"{stats['model_cpu_seconds']} s, clients {stats['client_cpu_seconds']} s "
        f"(row {stats['elapsed_s']} s)"
    )
    if stats.get("start_phases_ms"):
        phases = ", ".join(f"{k} {v}" for k, v in stats["start_phases_ms"].items())
        log(f"    the server's start, mean ms: {phases}")
    if stats["unfinished"] or stats["censored"]:
        log(
            f"    {stats['unfinished']} answers without an end by the deadline; "
            f"{stats['censored']} values are lower bounds"
        )
    for problem in (stats["failures"] + stats["problems"])[:5]:
        log(f"    ! {problem}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    workdir = Path(tempfile.mkdtemp(prefix="chat-load-bench-"))
    log(f"logs in {workdir}")
    worktrees: list[Path] = []
    try:
        return run(args, workdir, worktrees)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        CHILDREN.kill_all()
        worktrees_remove(worktrees)


if __name__ == "__main__":
    sys.exit(main())
