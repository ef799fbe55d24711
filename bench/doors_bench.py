"""The start of an answer by door and by load, against an earlier version, in one run.

    python bench/doors_bench.py [--before-ref REF] [--users 1,10,50,100,200]
                                [--doors ws,sse,v1] [--rounds 2] [--out-dir bench/results]

For each version (this checkout, and with --before-ref that git ref in a worktree with
its own database), one Daphne process is started against the loopback model server
(bench/model_server.py: the first token after --first-token-ms, then --tps tokens a
second, --tokens per answer), PostgreSQL (BENCH_DATABASE_URL or DATABASE_URL; SQLite
when none answers) and Redis ($REDIS_URL, else a throwaway redis-server). Then for
each N and each door (WebSocket, SSE POST, /v1 through the official `openai` client;
the order rotates by round), N users each send one message at the same moment, their
connections opened and signed in beforehand (bench/api_bench.py's clients).

Per row, over the rounds: message -> model request (the client's send to the model
server's arrival, from its log) p50/p99; the p99 lateness of the user's text against
the model's schedule (each piece received against the write time of its last
character's token, as bench/load_bench.py measures the socket); TTFT p50; the server's
CPU seconds per 1,000 delivered tokens; the server's own start by phase
(chat_answer_start_seconds: auth / exchange / begin); answers correct (complete, the
model's exact text, the saved answer equal to it). The knee of a door is the largest N
whose p99 lateness is under 100 ms with every answer correct.

Output: a markdown table on stdout and in <out-dir>/doors_bench.md, every figure in
<out-dir>/doors_bench.json. No timing is asserted; the exit status is 1 when an answer
of this checkout is lost, wrong or failed.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import shlex
import signal
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from api_bench import LABELS, TRANSPORTS, Worker, check  # noqa: E402
from load_bench import (  # noqa: E402
    CHILDREN,
    DbAgent,
    ModelServer,
    base_server_env,
    code_description,
    find_database,
    fmt,
    log,
    machine,
    migrate,
    percentile,
    phases_between,
    redis_url,
    start_model_server,
    start_phases,
    start_servers,
    worktree_add,
    worktrees_remove,
)
from model_server import reply_tokens  # noqa: E402

LATE_MS = 100.0  # the knee: p99 lateness under this
METRIC_DOOR = {"ws": "websocket", "sse": "sse", "v1": "v1"}  # chat_answer_start_seconds


@dataclass
class Version:
    name: str  # "after" (this checkout) or "before"
    label: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)


def lateness(answer: dict[str, Any], record: dict[str, Any]) -> list[float]:
    """Each received piece against the model's write of the token its last character
    is in (seconds); text the model wrote and the client never saw counts as late as
    the client's end of reading."""
    ends, total = [], 0
    for token in reply_tokens(answer["prompt"]):
        total += len(token)
        ends.append(total)
    emitted = [record["arrival"] + e for e in record["emit"]]
    late, position = [], 0
    for received, piece in answer["pieces"]:
        position += len(piece)
        k = bisect.bisect_left(ends, position)
        if k < len(emitted):
            late.append(received - emitted[k])
    cutoff = answer["end"] or answer.get("gave_up") or 0.0
    for k in range(bisect.bisect_right(ends, position), len(emitted)):
        late.append(max(0.0, cutoff - emitted[k]))
    return late


def ms(values: list[float], p: float) -> float | None:
    value = percentile(values, p)
    return None if math.isnan(value) else round(value * 1000, 1)


def summarize(door: str, users: int, rounds: list[dict[str, Any]], model: ModelServer) -> dict:
    to_model: list[float] = []
    late: list[float] = []
    ttft: list[float] = []
    problems: list[str] = []
    correct = tokens = 0
    cpu = 0.0
    phases: dict[str, list[float]] = {}
    for rnd in rounds:
        problems += rnd["setup_errors"]
        records = model.requests({a["prompt"] for a in rnd["answers"] if a["sent"]}, wait=2.0)
        cpu += rnd["cpu"]
        for key, (count, seconds) in rnd["phases"].items():
            entry = phases.setdefault(key, [0.0, 0.0])
            entry[0] += count
            entry[1] += seconds
        if len(rnd["answers"]) < users:
            problems.append(f"{users - len(rnd['answers'])} messages never sent")
        for answer in rnd["answers"]:
            problem = check(answer, rnd["saved"], 1)
            if problem:
                problems.append(f"user {answer['user']}: {problem}")
            else:
                correct += 1
            record = records.get(answer["prompt"])
            if answer["sent"] is None or record is None:
                continue
            to_model.append(record["arrival"] - answer["sent"])
            if answer["first"] is not None:
                ttft.append(answer["first"] - answer["sent"])
            late += lateness(answer, record)
            tokens += len(record["emit"])
    return {
        "door": door,
        "users": users,
        "answers": users * len(rounds),
        "correct": correct,
        "to_model_p50_ms": ms(to_model, 50),
        "to_model_p99_ms": ms(to_model, 99),
        "lateness_p99_ms": ms(late, 99),
        "ttft_p50_ms": ms(ttft, 50),
        "cpu_s_per_1k_tokens": round(cpu / tokens * 1000, 3) if tokens else None,
        "phases_ms": {
            phase: round(seconds / count * 1000, 1)
            for (d, phase), (count, seconds) in sorted(phases.items())
            if d == METRIC_DOOR[door] and count
        },
        "problems": problems,
    }


def measure_version(args: argparse.Namespace, version: Version, workdir: Path) -> list[dict]:
    """Every (N, door) row of one version, on its own Daphne process and database."""
    tps = args.tps
    ideal = args.first_token_ms / 1000 + args.tokens / tps
    answer_timeout = 60 + 3 * ideal
    model = start_model_server(workdir, f"model-{version.name}", args.first_token_ms, tps)
    env = {**version.env, "OPENAI_BASE_URL": model.base_url}
    agent = DbAgent(version.root, env, workdir / f"agent-{version.name}.log")
    servers = start_servers(1, version.root, env, workdir, version.name, None)
    worker = Worker()
    rows = []
    try:
        tag = uuid.uuid4().hex[:6]
        accounts = agent.setup(f"doors-{version.name}-{tag}", max(args.users) + 1)
        names = [a["username"] for a in accounts]
        tokens = agent.tokens(names, name="doors_bench")
        port = servers[0].port
        everyone = [
            {"idx": i, "port": port, "session": a["session"], "token": t, "conversation": ""}
            for i, (a, t) in enumerate(zip(accounts, tokens, strict=True))
        ]
        base = {"answer_timeout": answer_timeout, "ws_auth": "session", "pids": [servers[0].pid]}
        # Warm-up: one short answer through each door.
        for door in args.doors:
            spec = {**base, "transport": door, "mode": "token", "messages": 1, "tokens": 3}
            warm = [dict(everyone[-1], idx=0)]
            warm[0]["conversation"] = agent.conversations([names[-1]])[0]
            worker.run({**spec, "users": warm, "tag": f"{tag} warm-up"}, answer_timeout + 120)
        model.requests(set(), wait=0)
        model.records.clear()
        for n in args.users:
            per: dict[str, list[dict[str, Any]]] = {}
            for rnd in range(args.rounds):
                shift = rnd % len(args.doors)
                for door in args.doors[shift:] + args.doors[:shift]:
                    users = everyone[:n]
                    if door != "v1":
                        for user, conversation in zip(
                            users, agent.conversations(names[:n]), strict=True
                        ):
                            user["conversation"] = conversation
                    spec = {
                        **base,
                        "transport": door,
                        "mode": "token",
                        "users": users,
                        "messages": 1,
                        "tokens": args.tokens,
                        "tag": f"{tag} n{n} r{rnd}",
                    }
                    before = start_phases([port])
                    reply = worker.run(spec, answer_timeout + 300)
                    reply["phases"] = phases_between(before, start_phases([port]))
                    per.setdefault(door, []).append(reply)
            for door in args.doors:
                row = summarize(door, n, per[door], model)
                row["version"] = version.name
                rows.append(row)
                log(
                    f"  {version.name} N={n} {door}: msg→model p50 {fmt(row['to_model_p50_ms'], 1)}"
                    f" p99 {fmt(row['to_model_p99_ms'], 1)} ms, lateness p99 "
                    f"{fmt(row['lateness_p99_ms'])} ms, {row['correct']}/{row['answers']} correct"
                )
    finally:
        worker.close()
        servers[0].stop()
        CHILDREN.stop(model.process)
        agent.close()
    return rows


def knee(rows: list[dict[str, Any]]) -> str:
    ok = [
        r["users"]
        for r in rows
        if r["correct"] == r["answers"] and (r["lateness_p99_ms"] or math.inf) < LATE_MS
    ]
    return str(max(ok)) if ok else "none"


def render(report: dict[str, Any]) -> str:
    versions = report["versions"]
    names = [v["name"] for v in versions]
    both = len(names) == 2
    lines = [
        "### The start of an answer by door and load (`bench/doors_bench.py`)",
        "",
        f"`{report['command']}`; {report['machine']['cores']} cores, {report['database']}, "
        f"{report['redis']}; one Daphne process; {report['workload']}.",
        "",
    ]
    lines += [f"- {v['name']}: {v['label']}" for v in versions]
    lines.append("")
    arrow = " → " if both else ""
    order = ["before", "after"] if both else names

    def pair(door: str, n: int, key: str, digits: int = 0) -> str:
        found = {r["version"]: r for r in report["rows"] if r["door"] == door and r["users"] == n}
        return arrow.join(fmt(found.get(v, {}).get(key), digits) for v in order)

    head = "before → after" if both else names[0]
    lines += [
        f"| door | N | msg→model p50 ({head}, ms) | p99 | p99 lateness | TTFT p50 "
        "| CPU s / 1k tokens | correct | start: auth / exchange / begin (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for door in report["doors"]:
        for n in report["users"]:
            rows = [r for r in report["rows"] if r["door"] == door and r["users"] == n]
            correct = " · ".join(f"{r['correct']}/{r['answers']}" for r in rows)
            mine = next((r for r in rows if r["version"] == "after"), rows[0] if rows else None)
            phases = mine["phases_ms"] if mine else {}
            start = " / ".join(fmt(phases.get(p), 1) for p in ("auth", "exchange", "begin"))
            lines.append(
                f"| {LABELS[door]} | {n} | {pair(door, n, 'to_model_p50_ms', 1)} "
                f"| {pair(door, n, 'to_model_p99_ms', 1)} | {pair(door, n, 'lateness_p99_ms')} "
                f"| {pair(door, n, 'ttft_p50_ms')} | {pair(door, n, 'cpu_s_per_1k_tokens', 3)} "
                f"| {correct} | {start} |"
            )
    lines.append("")
    knees = ", ".join(
        f"{LABELS[door]} {arrow.join(report['knees'][v][door] for v in order)}"
        for door in report["doors"]
    )
    lines.append(f"Knee (largest N with p99 lateness under {LATE_MS:.0f} ms): {knees}.")
    problems = [p for r in report["rows"] for p in r["problems"]]
    if problems:
        lines += ["", f"Problems ({len(problems)}): " + "; ".join(problems[:5])]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x]

    def doors(text: str) -> list[str]:
        found = [d for d in text.split(",") if d]
        for door in found:
            if door not in TRANSPORTS:
                raise argparse.ArgumentTypeError(f"unknown door {door!r}")
        return found

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=ints, default=[1, 10, 50, 100, 200])
    parser.add_argument("--doors", type=doors, default=list(TRANSPORTS))
    parser.add_argument("--rounds", type=int, default=2, help="per N and door")
    parser.add_argument("--before-ref", default="", help="also measure this git ref")
    parser.add_argument("--tokens", type=int, default=150, help="tokens per answer")
    parser.add_argument("--tps", type=float, default=30.0, help="model tokens per second")
    parser.add_argument("--first-token-ms", type=float, default=300.0)
    parser.add_argument("--db-name", default="chat_doorsbench")
    parser.add_argument("--out-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE")
    return parser.parse_args(argv)


def versions_of(args: argparse.Namespace, workdir: Path, worktrees: list[Path]) -> list[Version]:
    versions = [Version("after", f"this checkout ({code_description()})", ROOT)]
    if args.before_ref:
        path, label = worktree_add(args.before_ref, workdir, worktrees)
        versions.insert(0, Version("before", label, path))
    return versions


def run(args: argparse.Namespace, workdir: Path, worktrees: list[Path]) -> int:
    out_dir = Path(args.out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python bench/doors_bench.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    database = find_database()
    rows: list[dict[str, Any]] = []
    versions = versions_of(args, workdir, worktrees)
    with redis_url() as (redis, redis_note):
        for version in versions:
            version.env = base_server_env(redis, args.server_env)
            version.env.update(database.env_for(f"{args.db_name}_{version.name}", workdir))
            log(f"{version.name}: migrating ({version.root})")
            migrate(version.root, version.env, workdir / f"migrate-{version.name}.log")
            rows += measure_version(args, version, workdir)
    report = {
        "command": command,
        "machine": machine(),
        "database": database.describe,
        "redis": redis_note,
        "workload": (
            f"{args.tokens} tokens per answer, the first after {args.first_token_ms:g} ms, "
            f"then {args.tps:g}/s; token chunks; {args.rounds} rounds per N and door"
        ),
        "versions": [{"name": v.name, "label": v.label} for v in versions],
        "users": args.users,
        "doors": args.doors,
        "rows": rows,
        "knees": {
            v.name: {
                door: knee([r for r in rows if r["version"] == v.name and r["door"] == door])
                for door in args.doors
            }
            for v in versions
        },
    }
    markdown = render(report)
    (out_dir / "doors_bench.md").write_text(markdown + "\n")
    (out_dir / "doors_bench.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print()
    print(markdown)
    print()
    log(f"wrote {out_dir / 'doors_bench.md'} and doors_bench.json; logs in {workdir}")
    bad = [r for r in rows if r["version"] == "after" and r["correct"] != r["answers"]]
    for r in bad:
        log(f"!!! NOT ALL CORRECT: {r['door']} N={r['users']}: {r['correct']}/{r['answers']}")
        for problem in r["problems"][:5]:
            log(f"!!!     {problem}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    workdir = Path(tempfile.mkdtemp(prefix="chat-doors-bench-"))
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
