"""Clocks, between real server processes (Daphne, one PostgreSQL, one Redis, the
model a loopback OpenAI-compatible stub reached through the real ChatOpenAI client).

- One server's clock is 26 s off (`timezone.now` shifted by a test-only settings
  module, tests/support/skewed_clock.py): a live answer that another server runs is
  not marked interrupted, and the per-user cap on answers at once still holds, with
  the shipped staleness settings. The skewed server reports its skew on /metrics.
- With the shipped settings, a tab watching an answer whose process is killed hears
  its `interrupted` end within about 13 s (it took about 33 s with a 30 s window).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.api_client import session_conversation
from tests.e2e.servers import RUNNING_SERVERS, Server, start_server
from tests.e2e.test_process_faults import open_socket, sign_up
from tests.support.openai_stub import OpenAIStub, Reply

pytestmark = pytest.mark.e2e

SKEW = 26.0


@contextmanager
def servers(*started: Server) -> Iterator[None]:
    try:
        yield
    finally:
        for server in started:
            server.stop()
            if server in RUNNING_SERVERS:
                RUNNING_SERVERS.remove(server)


def stub_env(server_env: dict, stub: OpenAIStub, **more: str) -> dict[str, str]:
    """The servers' environment with the stub as their model (shipped staleness)."""
    return {
        **server_env,
        "OPENAI_BASE_URL": stub.base_url,
        "OPENAI_API_KEY": "stub-key",
        "LLM_MAX_RETRIES": "0",
        **more,
    }


def skew_metric(server: Server) -> float | None:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("chat_clock_skew_seconds "):
            return float(line.split()[1])
    return None


@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["ahead", "behind"])
def test_a_server_with_a_skewed_clock_neither_ends_a_live_answer_nor_lifts_the_cap(
    server_env: dict, tmp_path: Path, skew: float
) -> None:
    """The answer runs on the writer and stays silent for seconds at a time (a model
    thinking); the judge sweeps every second and is asked, again and again, for a
    second answer of the same user (cap: one at once). Ahead: the skewed server
    judges; behind: it writes. The answer ends `complete` and every extra is refused."""
    with OpenAIStub() as stub:
        stub.replies.append(Reply(deltas=["Let me think.", " Done", "."], delay=7))
        env = stub_env(server_env, stub, CHAT_MAX_ACTIVE_ANSWERS_PER_USER="1")
        env["CHAT_SWEEP_SECONDS"] = "1"
        honest = start_server("honest", env, tmp_path)
        skewed_env = {"DJANGO_SETTINGS_MODULE": "tests.support.skewed_clock"}
        skewed_env["TEST_CLOCK_SKEW_SECONDS"] = str(skew)
        skewed = start_server(f"skewed{skew:+.0f}", {**env, **skewed_env}, tmp_path)
        writer, judge = (honest, skewed) if skew > 0 else (skewed, honest)
        with servers(honest, skewed), ExitStack() as stack:
            client, running = sign_up(writer.url)
            other = session_conversation(client, writer.url)
            asking, _ = open_socket(stack, writer, client, running)
            probing, _ = open_socket(stack, judge, client, other)
            asking.send(json.dumps({"type": "user_message", "content": "Think hard"}))
            frames, probes = answer_while_probing(asking, probing)
            saved = client.get(f"{writer.url}/api/conversations/{running}/").json()
            answer = saved["messages"][-1]
            errors = [f["code"] for f in frames if f["type"] == "error"]
            outcome = (errors, frames[-1]["status"], answer["status"], set(probes))
            assert outcome == ([], "complete", "complete", {"rate_limited"}), probes
            assert answer["content"] == "Let me think. Done." and len(probes) >= 10
            measured = skew_metric(skewed)
            assert measured is not None and abs(measured - skew) < 2, measured
            assert abs(skew_metric(honest) or 0.0) < 2
            print(f"skew {skew:+.0f} s: {len(probes)} extra answers refused, skew seen {measured}")


def answer_while_probing(asking: Any, probing: Any) -> tuple[list[dict], list[str]]:
    """The asking tab's frames up to its answer's `end`; whenever it is quiet for half a
    second, the probing tab asks for another answer: the code of each refusal (or
    the frame type of an acceptance, after which it stops asking)."""
    frames: list[dict] = []
    probes: list[str] = []
    deadline = time.monotonic() + 60
    while not frames or frames[-1]["type"] != "end":
        assert time.monotonic() < deadline, frames
        try:
            frames.append(json.loads(asking.recv(timeout=0.5)))
            continue
        except TimeoutError:
            pass
        if probes and probes[-1] != "rate_limited":
            continue  # one got through: the test fails on it
        probing.send(json.dumps({"type": "user_message", "content": "One more?"}))
        reply = json.loads(probing.recv(timeout=10))
        probes.append(reply.get("code") or reply["type"])
    return frames, probes


def test_a_killed_process_answer_ends_for_a_watching_tab_within_the_shipped_window(
    server_env: dict, tmp_path: Path
) -> None:
    """SIGKILL to the process running an answer, with the shipped staleness settings:
    the tab on another process gets the answer's `interrupted` end from its watchdog
    (the answer's row goes stale by the database's clock) within 15 s."""
    with OpenAIStub() as stub:
        stub.replies.append(Reply(deltas=[f"w{i} " for i in range(600)], delay=0.05))
        env = stub_env(server_env, stub)
        doomed = start_server("doomed-shipped", env, tmp_path)
        watcher = start_server("watcher-shipped", env, tmp_path)
        with servers(doomed, watcher), ExitStack() as stack:
            client, conversation = sign_up(doomed.url)
            asking, _ = open_socket(stack, doomed, client, conversation)
            watching, _ = open_socket(stack, watcher, client, conversation)
            asking.send(json.dumps({"type": "user_message", "content": "A long one"}))
            seen = 0
            while seen < 20:  # the answer streams, in the doomed process
                seen += json.loads(watching.recv(timeout=15))["type"] == "chunk"
            doomed.process.kill()  # SIGKILL: no final save, no `end`
            killed = time.monotonic()
            doomed.process.wait(timeout=10)
            frames: list[dict] = []
            while not frames or frames[-1]["type"] != "end":
                frames.append(json.loads(watching.recv(timeout=60)))
            settled = time.monotonic() - killed
            assert frames[-1]["status"] == "error"
            assert [f["code"] for f in frames if f["type"] == "error"] == ["interrupted"]
            print(f"shipped settings: the killed process's answer ended {settled:.1f} s later")
            assert settled < 15
