"""Several real server processes on one Redis and one database: the per-user limits
and the fault paths that only show between processes. The clients are plain
WebSockets (no browser)."""

from __future__ import annotations

import json
import re
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.servers import RUNNING_SERVERS, Server, start_server

STALE_SECONDS = 3  # an answer not saved for this long belongs to a dead process


def sign_up(base_url: str) -> tuple[httpx.Client, str]:
    """A new user signed up over HTTP, with a new conversation: (client, its id)."""
    client = httpx.Client(base_url=base_url, follow_redirects=True, timeout=10)
    page = client.get("/accounts/signup/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    name = f"killed-{uuid.uuid4().hex[:8]}"
    password = "a-Long-pass-123"
    client.post(
        "/accounts/signup/",
        data={
            "csrfmiddlewaretoken": token,
            "username": name,
            "password1": password,
            "password2": password,
        },
        headers={"Referer": f"{base_url}/accounts/signup/"},
    ).raise_for_status()
    csrf = client.cookies["csrftoken"]
    created = client.post(
        "/api/conversations/",
        json={"title": ""},
        headers={"X-CSRFToken": csrf, "Referer": f"{base_url}/"},
    )
    created.raise_for_status()
    return client, created.json()["id"]


def open_socket(
    stack: ExitStack, server: Server, client: httpx.Client, conversation_id: str
) -> Any:
    """A chat socket (closed with `stack`) and its history frame."""
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    ws = stack.enter_context(
        connect(
            f"ws://127.0.0.1:{server.port}/ws/chat/{conversation_id}/?chunk=token",
            additional_headers={"Cookie": cookie, "Origin": server.url},
            open_timeout=10,
        )
    )
    history = json.loads(ws.recv(timeout=10))
    assert history["type"] == "history"
    return ws, history


def test_a_process_killed_mid_answer_ends_it_for_a_tab_on_another_process(
    server_env: dict, tmp_path: Path
) -> None:
    env = {
        **server_env,
        "DEMO_TOKEN_DELAY_MS": "100",  # about ten seconds of answer
        "CHAT_PROGRESS_SAVE_SECONDS": "0.5",
        "CHAT_STALE_STREAM_SECONDS": str(STALE_SECONDS),
    }
    doomed = start_server("doomed", env, tmp_path)
    watcher = start_server("watcher", env, tmp_path)
    stack = ExitStack()
    try:
        client, conversation_id = sign_up(doomed.url)
        asking, _ = open_socket(stack, doomed, client, conversation_id)
        watching, _ = open_socket(stack, watcher, client, conversation_id)
        asking.send(json.dumps({"type": "user_message", "content": "Tell me a long story"}))
        seen = ""
        answer_id = None
        while len(seen) < 40:  # the answer streams, in the doomed process
            frame = json.loads(watching.recv(timeout=15))
            if frame["type"] == "start":
                answer_id = frame["message_id"]
            elif frame["type"] == "chunk" and frame["message_id"] == answer_id:
                seen += frame["text"]
        doomed.process.kill()  # SIGKILL: no final save, no `end`
        doomed.process.wait(timeout=10)
        frames = []
        while not frames or frames[-1]["type"] != "end":
            frames.append(json.loads(watching.recv(timeout=30)))
        seen += "".join(
            f["text"] for f in frames if f["type"] == "chunk" and f["message_id"] == answer_id
        )
        errors = [f for f in frames if f["type"] == "error"]
        assert frames[-1]["status"] == "error" and frames[-1]["message_id"] == answer_id
        assert [e["code"] for e in errors] == ["interrupted"]
        saved = httpx.get(
            f"{watcher.url}/api/conversations/{conversation_id}/", cookies=client.cookies
        ).json()["messages"][-1]
        assert saved["id"] == answer_id and saved["status"] == "error"
        assert saved["error_code"] == "interrupted" and saved["content"]
        # The text saved before the kill is kept; the tab showed it, and at most what
        # streamed after the last progress save (the bounded loss of a crash).
        assert seen.startswith(saved["content"]), (seen, saved["content"])
    finally:
        stack.close()
        for server in (doomed, watcher):
            server.stop()
            if server in RUNNING_SERVERS:
                RUNNING_SERVERS.remove(server)


pytestmark = pytest.mark.e2e


def test_the_rate_limit_holds_across_two_processes(server_env: dict, tmp_path: Path) -> None:
    """One user sends to eight conversations at once, half through each of two
    processes: exactly the limit passes, whichever process took each message."""
    from concurrent.futures import ThreadPoolExecutor

    env = {**server_env, "CHAT_RATE_LIMIT_PER_MINUTE": "3", "DEMO_TOKEN_DELAY_MS": "1"}
    env["CHAT_MAX_ACTIVE_ANSWERS_PER_USER"] = "100"
    servers = [start_server(f"limits-{i}", env, tmp_path) for i in range(2)]
    stack = ExitStack()
    try:
        client, first = sign_up(servers[0].url)
        csrf = client.cookies["csrftoken"]
        ids = [first] + [
            client.post(
                "/api/conversations/",
                json={"title": ""},
                headers={"X-CSRFToken": csrf, "Referer": f"{servers[0].url}/"},
            ).json()["id"]
            for _ in range(7)
        ]
        sockets = [open_socket(stack, servers[i % 2], client, cid)[0] for i, cid in enumerate(ids)]

        def send(ws: Any) -> str:
            ws.send(json.dumps({"type": "user_message", "content": "at once"}))
            frame = json.loads(ws.recv(timeout=20))
            return frame["type"] if frame["type"] != "error" else frame["code"]

        with ThreadPoolExecutor(max_workers=len(sockets)) as pool:
            outcomes = list(pool.map(send, sockets))
        assert sorted(outcomes) == ["message"] * 3 + ["rate_limited"] * 5, outcomes
    finally:
        stack.close()
        for server in servers:
            server.stop()
            if server in RUNNING_SERVERS:
                RUNNING_SERVERS.remove(server)
