"""CPU per streamed token of the model client alone, one profiling step at a time.

N answers stream at once from bench/model_server.py (a real OpenAI-compatible server
on loopback, its own process) through LangChain's ChatOpenAI, in this process only:
no Django, no channel layer, no WebSocket. Each row adds one change of the
performance work; the last row is what the server runs (`chat.provider.llm.stream_answer()`
on the model of `chat.provider.llm.chat_model()`). Ratios are to the first row, measured in
the same run.

    python bench/model_client_bench.py [--users 100] [--tps 30] [--tokens 150]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.test import override_settings  # noqa: E402
from langchain_core.messages import HumanMessage  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

from chat.provider.llm import DictChunkCompletions, close_chat_models, stream_answer  # noqa: E402


def langchain_model(base_url: str, *, chunk_timeout: float | None, dicts: bool) -> ChatOpenAI:
    """ChatOpenAI on an httpx client, the way the server built it before this work."""
    model = ChatOpenAI(
        model="bench",
        api_key="bench",
        base_url=base_url,
        streaming=True,
        stream_usage=True,
        max_retries=0,
        timeout=httpx.Timeout(60.0, connect=10.0),
        stream_chunk_timeout=chunk_timeout,
        http_async_client=httpx.AsyncClient(
            timeout=httpx.Timeout(60.0, connect=10.0), limits=httpx.Limits(max_connections=1000)
        ),
    )
    if dicts:
        model.async_client = DictChunkCompletions(model.root_async_client)
    return model


# A prompt's answer: LangChain message chunks, or stream_answer's deltas and usage.
Stream = Callable[[str], AsyncIterator[Any]]


def steps(base_url: str) -> list[tuple[str, Callable[[], Stream]]]:
    def astream(model: ChatOpenAI) -> Stream:
        return lambda prompt: model.astream([HumanMessage(prompt)])

    def server() -> Stream:
        return lambda prompt: stream_answer([("user", prompt)])

    return [
        (
            "before: httpx, astream, chunk timeout",
            lambda: astream(langchain_model(base_url, chunk_timeout=60.0, dicts=False)),
        ),
        (
            "+ no per-chunk wait_for",
            lambda: astream(langchain_model(base_url, chunk_timeout=None, dicts=False)),
        ),
        (
            "+ chunks as dicts",
            lambda: astream(langchain_model(base_url, chunk_timeout=None, dicts=True)),
        ),
        ("+ aiohttp transport, _astream (server)", server),
    ]


async def measure(stream: Stream, users: int, tokens_per_answer: int) -> tuple[float, int, float]:
    async def one(index: int) -> int:
        count = 0
        prompt = f"client-bench user {index} tokens={tokens_per_answer}"
        async for item in stream(prompt):
            count += isinstance(item, str) or bool(getattr(item, "text", ""))
        return count

    await one(-1)  # connections and imports warm
    cpu, wall = time.process_time(), time.perf_counter()
    tokens = sum(await asyncio.gather(*(one(i) for i in range(users))))
    return time.process_time() - cpu, tokens, time.perf_counter() - wall


async def run(args: argparse.Namespace, base_url: str) -> list[tuple[str, float, int, float]]:
    rows = []
    with override_settings(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="bench", LLM_MAX_RETRIES=0):
        for name, make in steps(base_url):
            cpu, tokens, wall = await measure(make(), args.users, args.tokens)
            rows.append((name, cpu, tokens, wall))
        await close_chat_models()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--tps", type=float, default=30.0)
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--first-token-ms", type=float, default=50.0)
    args = parser.parse_args()
    log = Path(tempfile.mkdtemp(prefix="client-bench-")) / "requests.jsonl"
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "model_server.py"),
            "--port",
            "0",
            "--log",
            str(log),
            "--tps",
            str(args.tps),
            "--first-token-ms",
            str(args.first_token_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("READY"):
            raise SystemExit(f"model server did not start: {line!r}")
        base_url = f"http://127.0.0.1:{int(line.split()[1])}/v1"
        rows = asyncio.run(run(args, base_url))
    finally:
        server.terminate()
        server.wait(timeout=10)
    base = rows[0][1] / rows[0][2]
    print(
        f"Model client alone: {args.users} answers at once, {args.tokens} tokens at "
        f"{args.tps:g} tokens/s, {os.cpu_count()} cores\n"
    )
    print("| step | tokens | CPU s | µs per token | × first row | wall s |")
    print("|---|---|---|---|---|---|")
    for name, cpu, tokens, wall in rows:
        per = cpu / tokens
        print(
            f"| {name} | {tokens} | {cpu:.2f} | {per * 1e6:.0f} | {per / base:.2f} | {wall:.2f} |"
        )


if __name__ == "__main__":
    main()
