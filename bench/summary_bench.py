"""Time to first token with summaries of long conversations (issue #25), real Daphne.

    python bench/summary_bench.py [--conversations 10] [--first-token-ms 300] [--tps 30]
                                  [--turns 30] [--turn-chars 1000] [--out docs/performance.md]

What runs, all on loopback, as bench/load_bench.py runs it: `bench/model_server.py`
(the first token `--first-token-ms` after a request, then `--tps` tokens a second; an
answer asked with `tokens=20` has 20 tokens, a summary request the default 150), one
Daphne process with ChatOpenAI pointed at it, CHAT_SUMMARIES on and the default
CHAT_HISTORY_CHAR_BUDGET (24,000), PostgreSQL (a database `chat_summarybench`,
dropped and migrated first; SQLite when none answers) and Redis ($REDIS_URL, else a
throwaway redis-server).

Each of `--conversations` conversations is seeded with `--turns` finished turns of
`--turn-chars` characters (30 x 1,000 = 30,000: past the budget), then, one
conversation at a time, over a real WebSocket:
1. the first answer that needs a summary: none exists yet, so it gets today's cut and
   the summary is written after it ends, in the background;
2. once that summary is stored, the next answer, which reuses it;
and a short conversation's answers (under the budget) as the baseline. Time to first
token is measured at the client: `user_message` sent -> its first `chunk` frame. The
summary call's own duration is read from its row: what an answer would wait if the
summary were written before it instead (the design not chosen).

The figures go to --out between `<!-- summary-bench:begin -->` and
`<!-- summary-bench:end -->` (the rest of the file is kept).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(ROOT))

import db_agent  # noqa: E402
import load_bench as lb  # noqa: E402

BEGIN, END = "<!-- summary-bench:begin -->", "<!-- summary-bench:end -->"


def seed(conversation_id: str, turns: int, chars: int) -> None:
    """Finished turns on one path (user first), the leaf the last."""
    from chat.models import Conversation, Message

    parent = None
    for index in range(turns):
        role = Message.Role.USER if index % 2 == 0 else Message.Role.ASSISTANT
        words = f"turn {index} " + "lorem ipsum dolor sit amet " * (chars // 27 + 1)
        parent = Message.objects.create(
            conversation_id=conversation_id, parent=parent, role=role, content=words[:chars]
        )
    Conversation.objects.filter(pk=conversation_id).update(leaf=parent)


def request_chars(conversation_id: str, timeout: float = 30.0) -> int:
    """The characters the newest answer's request carried, as the model server counts
    them (its prompt tokens are the messages' characters // 4)."""
    from chat.models import Message

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = (
            Message.objects.filter(conversation_id=conversation_id, role="assistant")
            .order_by("-created")
            .first()
        )
        if answer is not None and answer.input_tokens is not None:
            return answer.input_tokens * 4
        time.sleep(0.05)
    raise RuntimeError(f"no saved usage in {conversation_id}")


def summary_of(conversation_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """The conversation's stored summary, once there is one."""
    from chat.models import Summary

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = Summary.objects.filter(conversation_id=conversation_id).first()
        if found is not None:
            return {
                "status": found.status,
                "chars": len(found.text),
                "duration_ms": found.duration_ms,
                "tokens": found.total_tokens,
            }
        time.sleep(0.05)
    raise RuntimeError(f"no summary of {conversation_id} within {timeout} s")


async def ask(port: int, user: dict[str, str], question: str) -> float:
    """Send one question; the ms to its first chunk frame (the answer is read to its end)."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/ws/chat/{user['conversation']}/?chunk=token"
    async with connect(
        url,
        origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        additional_headers={"Cookie": f"sessionid={user['session']}"},
        proxy=None,
        ping_interval=None,
        max_size=None,
    ) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert first["type"] == "history", first
        sent = time.perf_counter()
        await ws.send(json.dumps({"type": "user_message", "content": question}))
        ttft: float | None = None
        async with asyncio.timeout(120):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "chunk" and ttft is None:
                    ttft = (time.perf_counter() - sent) * 1000
                if frame["type"] == "error":
                    raise RuntimeError(f"error frame: {frame}")
                if frame["type"] == "end":
                    assert frame["status"] == "complete", frame
                    break
    assert ttft is not None
    return ttft


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered), "p90": p90, "max": ordered[-1]}


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    rows = report["rows"]
    lines = [
        BEGIN,
        f"Run of {report['date']} on {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
        f"{report['database']}, {report['redis']}; code `{report['code']}`. Command: "
        f"`{report['command']}`. Model server: first token {report['first_token_ms']} ms, "
        f"{report['tps']} tokens/s; {report['conversations']} conversations of "
        f"{report['turns']} turns x {report['turn_chars']} characters; budget "
        f"{report['budget']:,} characters.",
        "",
        "| answer | n | TTFT p50 ms | p90 ms | max ms | request chars | what it sends |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        t = row["ttft"]
        lines.append(
            f"| {row['name']} | {row['n']} | {t['p50']:.0f} | {t['p90']:.0f} | "
            f"{t['max']:.0f} | {row['chars']:,} | {row['sent']} |"
        )
    s = report["summary_ms"]
    lines += [
        "",
        "Request chars: the messages' characters as the model server counted them (4 x "
        "its prompt tokens, p50), the system prompt included; the short conversation "
        "grows by one exchange per measure.",
        f"The summary call itself (written after the first answer, in the background): "
        f"p50 {s['p50']:.0f} ms, max {s['max']:.0f} ms, "
        f"{report['summary_chars']} characters stored. Written before the answer "
        "instead, it would have added that to the first answer's time to first token.",
        END,
    ]
    return "\n".join(lines)


def write_markdown(path: Path, block: str) -> None:
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--turn-chars", type=int, default=1000)
    parser.add_argument("--first-token-ms", type=float, default=300.0)
    parser.add_argument("--tps", type=float, default=30.0)
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument("--json", default="")
    parser.add_argument("--db-name", default="chat_summarybench")
    args = parser.parse_args(argv)
    command = "python bench/summary_bench.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    workdir = Path(tempfile.mkdtemp(prefix="summary-bench-"))
    lb.log(f"logs in {workdir}")
    database = lb.find_database()
    try:
        with lb.redis_url() as (redis, redis_note):
            model = lb.start_model_server(workdir, "model", args.first_token_ms, args.tps)
            env = lb.base_server_env(redis, [])
            env.update(database.env_for(args.db_name, workdir))
            env.update(
                OPENAI_BASE_URL=model.base_url,
                LLM_MODEL="bench-model",
                CHAT_SUMMARIES="1",
                LLM_OFFER_DEMO="0",
            )
            lb.migrate(ROOT, env, workdir / "migrate.log")
            os.environ.update(env)
            db_agent.setup_django(ROOT)
            from django.conf import settings

            (server,) = lb.start_servers(1, ROOT, env, workdir, "summary", None)
            users = db_agent.setup_users("sb", args.conversations + 1)
            fresh, long = users[0], users[1:]
            for user in long:
                seed(user["conversation"], args.turns, args.turn_chars)
            ttft: dict[str, list[float]] = {"baseline": [], "first": [], "reuse": []}
            sent: dict[str, list[int]] = {"baseline": [], "first": [], "reuse": []}
            summaries: list[dict[str, Any]] = []
            ttft["baseline"].append(asyncio.run(ask(server.port, fresh, "warm up tokens=20")))
            ttft["baseline"] = []
            for index, user in enumerate(long):
                question = f"question {index} a tokens=20"
                ttft["first"].append(asyncio.run(ask(server.port, user, question)))
                sent["first"].append(request_chars(user["conversation"]))
                summaries.append(summary_of(user["conversation"]))
                question = f"question {index} b tokens=20"
                ttft["reuse"].append(asyncio.run(ask(server.port, user, question)))
                sent["reuse"].append(request_chars(user["conversation"]))
                ttft["baseline"].append(
                    asyncio.run(ask(server.port, fresh, f"short {index} tokens=20"))
                )
                sent["baseline"].append(request_chars(fresh["conversation"]))
                lb.log(
                    f"{index + 1}/{len(long)}: first {ttft['first'][-1]:.0f} ms, "
                    f"reuse {ttft['reuse'][-1]:.0f} ms, summary {summaries[-1]}"
                )
            server.stop()
    finally:
        lb.CHILDREN.kill_all()
    budget = settings.CHAT_HISTORY_CHAR_BUDGET
    failed = [s for s in summaries if s["status"] != "ready"]
    if failed:
        lb.log(f"summaries not ready: {failed}")
        return 1
    report = {
        "date": lb.machine()["date"],
        "machine": lb.machine(),
        "database": database.describe,
        "redis": redis_note,
        "code": lb.code_description(),
        "command": command,
        "first_token_ms": args.first_token_ms,
        "tps": args.tps,
        "conversations": args.conversations,
        "turns": args.turns,
        "turn_chars": args.turn_chars,
        "budget": budget,
        "rows": [
            {
                "name": "a short conversation, under the budget (baseline)",
                "n": len(ttft["baseline"]),
                "ttft": stats(ttft["baseline"]),
                "chars": round(statistics.median(sent["baseline"])),
                "sent": "its whole history",
            },
            {
                "name": "first answer that needs a summary (none yet: today's cut)",
                "n": len(ttft["first"]),
                "ttft": stats(ttft["first"]),
                "chars": round(statistics.median(sent["first"])),
                "sent": "the newest turns within the budget",
            },
            {
                "name": "next answer, reusing the summary",
                "n": len(ttft["reuse"]),
                "ttft": stats(ttft["reuse"]),
                "chars": round(statistics.median(sent["reuse"])),
                "sent": "summary + the turns after its branch point",
            },
        ],
        "summary_ms": stats([float(s["duration_ms"]) for s in summaries]),
        "summary_chars": sorted({s["chars"] for s in summaries}),
    }
    block = render(report)
    print(block)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    if args.out:
        write_markdown(Path(args.out), block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
