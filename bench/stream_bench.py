"""Concurrent streaming through the real consumers, per channel layer.

N users each send one message at the same moment and read their answer to the
end, through ChatConsumer, the generation task, the database and the channel
layer under test. The in-memory layer (one process, no network) is the baseline
measured in the same run; every other row is reported as a ratio to it.

    python bench/stream_bench.py --users 30 [--token-delay-ms 10]

Uses REDIS_URL if set, else a throwaway redis-server; a temporary SQLite database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.pop("DATABASE_URL", None)  # never write benchmark rows into a real database
os.environ["SQLITE_PATH"] = str(Path(tempfile.mkdtemp(prefix="chat-bench-")) / "bench.sqlite3")
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("OPENAI_BASE_URL", None)

import django  # noqa: E402

django.setup()

from channels.db import database_sync_to_async  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import override_settings  # noqa: E402

from chat.generation import wait_for_answers  # noqa: E402
from chat.models import Conversation, Message  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from tests.support.redis_server import throwaway_redis  # noqa: E402

APP = URLRouter(websocket_urlpatterns)


def layers(redis_url: str, capacity: int) -> dict[str, dict[str, Any]]:
    return {
        "in-memory (baseline)": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": capacity},
        },
        "redis core": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "capacity": capacity},
        },
        "redis pubsub": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [redis_url]},
        },
    }


@database_sync_to_async
def make_pairs(run: str, users: int) -> list[tuple[Any, Conversation]]:
    model = get_user_model()
    pairs = []
    for i in range(users):
        user = model.objects.create_user(f"{run}-{i}", password="x")
        pairs.append((user, Conversation.objects.create(owner=user)))
    return pairs


@database_sync_to_async
def saved_content(message_id: str) -> str:
    return Message.objects.get(pk=message_id).content


async def one_user(ws: WebsocketCommunicator, prompt: str, timeout: float) -> dict[str, Any]:
    sent = time.perf_counter()
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": prompt}))
    first = None
    chunks: list[str] = []
    answer_id = ""
    try:
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await ws.receive_from(timeout=timeout))
                if frame["type"] == "start":
                    answer_id = frame["message_id"]
                elif frame["type"] == "chunk":
                    first = first or time.perf_counter()
                    chunks.append(frame["text"])
                elif frame["type"] == "end":
                    break
    except TimeoutError:
        return {
            "ended": False,
            "answer_id": answer_id,
            "text": "".join(chunks),
            "frames": len(chunks),
        }
    return {
        "ended": True,
        "answer_id": answer_id,
        "text": "".join(chunks),
        "ttft": (first or time.perf_counter()) - sent,
        "frames": len(chunks),
        "done": time.perf_counter() - sent,
    }


async def scenario(
    name: str, layer: dict[str, Any], users: int, coalesce_ms: float, delay_ms: float, mode: str
) -> dict[str, Any]:
    with override_settings(
        CHANNEL_LAYERS={"default": layer},
        CHAT_STREAM_COALESCE_MS=coalesce_ms,
        DEMO_TOKEN_DELAY_MS=delay_ms,
    ):
        run = f"r{time.monotonic_ns()}"
        pairs = await make_pairs(run, users)
        sockets = []
        for user, conversation in pairs:
            ws = WebsocketCommunicator(APP, f"/ws/chat/{conversation.pk}/?chunk={mode}")
            ws.scope["user"] = user
            await ws.connect(timeout=10)
            await ws.receive_from(timeout=10)  # history
            sockets.append(ws)
        cpu, wall = time.process_time(), time.perf_counter()
        results = await asyncio.gather(
            *(one_user(ws, f"{run} user {i} asks", 60) for i, ws in enumerate(sockets))
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        await wait_for_answers(60)
        correct = 0
        for result in results:
            if result["answer_id"] and result["ended"]:
                correct += result["text"] == await saved_content(result["answer_id"])
        for ws in sockets:
            await ws.disconnect()
        layer_object = get_channel_layer()
        if hasattr(layer_object, "flush"):
            await layer_object.flush()
        ended = [r for r in results if r["ended"]]
        ttfts = sorted(r["ttft"] * 1000 for r in ended) or [float("nan")]
        return {
            "name": name,
            "coalesce_ms": coalesce_ms,
            "users": users,
            "wall_s": wall,
            "cpu_s": cpu,
            "ttft_p50": statistics.median(ttfts),
            "ttft_p95": ttfts[int(0.95 * (len(ttfts) - 1))],
            "ended": len(ended),
            "correct": correct,
            "frames": sum(r["frames"] for r in results),
        }


async def main(args: argparse.Namespace) -> None:
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        rows = await run_all(args, redis_url)
    else:
        with throwaway_redis() as url:
            rows = await run_all(args, url)
    base = rows[0]
    lines = [
        f"# Streaming benchmark: {args.users} users at once, demo model "
        f"{args.token_delay_ms} ms/token, `{args.mode}` chunking",
        "",
        "| layer | coalesce ms | ended | text == DB | wall s | × base | CPU s | × base "
        "| TTFT p50 ms | TTFT p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        wall_ratio, cpu_ratio = r["wall_s"] / base["wall_s"], r["cpu_s"] / base["cpu_s"]
        lines.append(
            f"| {r['name']} | {r['coalesce_ms']:g} | {r['ended']}/{r['users']} | "
            f"{r['correct']}/{r['users']} | {r['wall_s']:.2f} | {wall_ratio:.2f} | "
            f"{r['cpu_s']:.2f} | {cpu_ratio:.2f} | {r['ttft_p50']:.0f} | {r['ttft_p95']:.0f} |"
        )
    report = "\n".join(lines)
    print(report)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text(report + "\n")


async def run_all(args: argparse.Namespace, redis_url: str) -> list[dict[str, Any]]:
    rows = []
    for name, layer in layers(redis_url, args.capacity).items():
        coalescing = [args.coalesce_ms] if name.startswith("in-memory") else [0, args.coalesce_ms]
        for coalesce in coalescing:
            rows.append(
                await scenario(name, layer, args.users, coalesce, args.token_delay_ms, args.mode)
            )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--token-delay-ms", type=float, default=10.0)
    parser.add_argument("--coalesce-ms", type=float, default=20.0)
    parser.add_argument("--capacity", type=int, default=1000)
    parser.add_argument("--mode", default="token", choices=["token", "line", "sentence", "clause"])
    call_command("migrate", verbosity=0)
    asyncio.run(main(parser.parse_args()))
