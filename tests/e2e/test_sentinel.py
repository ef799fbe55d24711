"""Redis Sentinel for real: a primary, a replica and three sentinels started here, two
Daphne processes that find the primary through the sentinels (REDIS_SENTINELS), and
the primary killed (SIGKILL) while an answer streams from one process to a tab on the
other. The answer must end in a definite state, saved and seen by both tabs, and once
the sentinels have promoted the replica new answers stream from process to process
again. The time from the kill to the first new answer seen through Redis is printed
(docs/reliability.md quotes it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.api_client import session_conversation
from tests.e2e.servers import RUNNING_SERVERS, Server, start_server
from tests.e2e.test_process_faults import open_socket, saved_answer, sign_up
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.redis_sentinel import MASTER_NAME, SentinelDeployment, sentinel_deployment
from tests.support.waiting import wait_for_sync

pytestmark = pytest.mark.e2e

RECOVERY_TIMEOUT = 60.0  # seconds from the kill to a new answer through the new primary
POLL_SECONDS = 0.2  # how long the other tab listens before the next answer is asked


@pytest.fixture
def sentinels() -> Iterator[SentinelDeployment]:
    with sentinel_deployment() as deployment:
        yield deployment


def read_until_end(ws: Any, message_id: str | None = None, timeout: float = 30) -> list[dict]:
    """Frames up to the `end` of `message_id` (of any answer if None)."""
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        frames.append(frame)
        if frame["type"] == "end" and message_id in (None, frame["message_id"]):
            return frames


def ask(ws: Any, content: str) -> list[dict]:
    """Send a message; the frames up to its answer's `end`, or up to a refusal (an
    `error` frame before any `start`: the answer could not begin)."""
    ws.send(json.dumps({"type": "user_message", "content": content}))
    frames: list[dict] = []
    while True:
        frames.append(json.loads(ws.recv(timeout=30)))
        kind = frames[-1]["type"]
        if kind == "end" or (kind == "error" and not any(f["type"] == "start" for f in frames)):
            return frames


def answer_through_redis(asking: Any, watching: Any, turn: int) -> str:
    """One new answer asked on one process, seen whole by the tab on the other process
    (through Redis): its id."""
    frames = ask(asking, f"Anyone there? ({turn})")
    assert frames[-1]["type"] == "end" and frames[-1]["status"] == "complete", frames[-1]
    (answer_id,) = {f["message_id"] for f in frames if f["type"] == "start"}
    seen = read_until_end(watching, answer_id)
    assert seen[-1]["status"] == "complete"
    assert any(f["type"] == "chunk" and f["message_id"] == answer_id for f in seen)
    return answer_id


class Prober:
    """New answers asked one after another on one process while another process's tab
    listens, until one reaches that tab whole (start, chunks, complete end) through
    Redis. An answer asked while Redis is down reaches its own tab only (delivered in
    its process), complete, and the other tab never hears of it: that tab sees it on
    its next load."""

    def __init__(self, asking: Any, watching: Any) -> None:
        self.asking, self.watching = asking, watching
        self.asked: list[str] = []  # the answers' ids
        self.refused = 0  # could not start (`unavailable`)
        self.heard: dict[str, list[dict]] = {}  # the other tab's frames, by answer

    def until_heard(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames = ask(self.asking, f"Are you back? ({len(self.asked) + self.refused})")
            starts = [f["message_id"] for f in frames if f["type"] == "start"]
            self.asked += starts
            self.refused += not starts
            heard = self._listen(POLL_SECONDS)
            if heard is not None:
                return heard
        raise AssertionError(f"no answer reached the other process in {timeout} s")

    def _listen(self, seconds: float) -> str | None:
        """The other tab's frames for `seconds`: the first answer heard whole, if any."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            try:
                frame = json.loads(self.watching.recv(timeout=left))
            except TimeoutError:
                break
            if "message_id" in frame:
                self.heard.setdefault(frame["message_id"], []).append(frame)
        for answer_id in self.asked:
            kinds = [(f["type"], f.get("status")) for f in self.heard.get(answer_id, [])]
            if {("start", None), ("chunk", None), ("end", "complete")} <= set(kinds):
                return answer_id
        return None


@pytest.mark.parametrize("fault", ["killed", "stalled"])
@pytest.mark.parametrize("backend", ["pubsub", "core"])
def test_the_primary_lost_mid_answer_fails_over_to_the_replica(
    server_env: dict, tmp_path: Path, sentinels: SentinelDeployment, backend: str, fault: str
) -> None:
    with OpenAIStub() as stub:
        stub.replies.append(Reply(deltas=[f"w{i} " for i in range(100)], delay=0.1))
        models = [{"name": "stub", "label": "Stub", "base_url": stub.base_url}]
        env = {name: value for name, value in server_env.items() if name != "REDIS_URL"}
        env |= {
            "REDIS_SENTINELS": sentinels.sentinels,
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "CHANNEL_LAYER_BACKEND": backend,
            "LLM_MODELS": json.dumps(models),
            "LLM_MAX_RETRIES": "0",
            "CHAT_PROGRESS_SAVE_SECONDS": "0.5",
        }
        servers = [start_server(f"sentinel-{backend}-{n}", env, tmp_path) for n in (1, 2)]
        stack = ExitStack()
        try:
            failed_over_in(servers, sentinels, stack, env, fault)
        finally:
            stack.close()
            for server in servers:
                server.stop()
                RUNNING_SERVERS.remove(server)


def failed_over_in(
    servers: list[Server],
    sentinels: SentinelDeployment,
    stack: ExitStack,
    env: dict,
    fault: str,
) -> None:
    client, conversation_id = sign_up(servers[0].url)
    asking, _ = open_socket(stack, servers[0], client, conversation_id)
    watching, _ = open_socket(stack, servers[1], client, conversation_id)
    probe = session_conversation(client, servers[0].url)  # new answers, asked at once
    probe_asking, _ = open_socket(stack, servers[0], client, probe)
    probe_watching, _ = open_socket(stack, servers[1], client, probe)
    asking.send(json.dumps({"type": "user_message", "content": "Tell me a long story"}))
    answer_id, streamed = None, 0
    while streamed < 5:  # the answer streams to the other process, through Redis
        frame = json.loads(watching.recv(timeout=15))
        if frame["type"] == "start":
            answer_id = frame["message_id"]
        streamed += frame["type"] == "chunk" and frame["message_id"] == answer_id
    assert answer_id is not None
    old_primary = sentinels.primary.port
    sentinels.primary.kill() if fault == "killed" else sentinels.primary.pause()
    killed = time.monotonic()

    # New answers stream from process to process again once the replica is promoted,
    # to tabs that were open before the kill.
    prober = Prober(probe_asking, probe_watching)
    new_answer = prober.until_heard(RECOVERY_TIMEOUT)
    recovered = time.monotonic() - killed
    assert sentinels.primary_port() == sentinels.replica.port != old_primary
    assert saved_answer(env, new_answer)[0] == "complete"
    assert all(saved_answer(env, answer)[0] == "complete" for answer in prober.asked)
    for server in servers:  # /readyz PINGs the primary the sentinels name now
        wait_for_sync(lambda s=server: ready(s), timeout=30, what=f"{server.name} ready")

    # The answer under way at the kill ends, for the tab that asked and the tab on the
    # other process alike, in the state saved: never left `streaming`.
    asked_end = read_until_end(asking, answer_id, timeout=60)[-1]
    watched = read_until_end(watching, answer_id, timeout=60)
    status, code, text = saved_answer(env, answer_id)
    assert status in ("complete", "error"), status
    assert asked_end["status"] == watched[-1]["status"] == status, (asked_end, watched[-1])

    # A tab opened after the failover follows the conversation's answers too.
    late, history = open_socket(stack, servers[1], client, conversation_id)
    assert history["messages"][-1]["id"] == answer_id
    answer_through_redis(asking, late, 1)
    after_kill = sum(f["type"] == "chunk" for f in watched)
    backend, asked = env["CHANNEL_LAYER_BACKEND"], len(prober.asked)
    print(
        f"sentinel failover ({backend}, primary {fault}): first answer through the new "
        f"primary {recovered:.1f} s after the kill ({asked} asked, {prober.refused} "
        f"refused); the answer under way ended {status}{' ' + code if code else ''} "
        f"({len(text)} characters), the other process's tab saw {after_kill} chunks of it "
        "after the kill"
    )


def ready(server: Server) -> bool:
    return httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200
