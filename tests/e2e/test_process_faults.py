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
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.servers import RUNNING_SERVERS, Server, start_server
from tests.support.waiting import wait_for_sync

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


def read_answer(ws: Any, timeout: float = 30) -> tuple[str, list[dict], str]:
    """Frames of the next answer up to its `end`: (its id, the frames, its chunks' text)."""
    frames: list[dict] = []
    while not frames or frames[-1]["type"] != "end":
        frames.append(json.loads(ws.recv(timeout=timeout)))
    (answer_id,) = {f["message_id"] for f in frames if f["type"] == "start"}
    text = "".join(f["text"] for f in frames if f["type"] == "chunk")
    return answer_id, frames, text


def wait_for_log(server: Server, needle: str, timeout: float = 30) -> None:
    wait_for_sync(
        lambda: needle in server.log_path.read_text(errors="replace"),
        timeout=timeout,
        what=f"{server.name}'s log to say {needle!r}",
    )


def test_the_final_save_waits_out_a_database_outage(server_env: dict, tmp_path: Path) -> None:
    """The server's connection to PostgreSQL goes through a proxy that the test cuts
    while answers stream, so their final saves fail for real. A short outage: the
    save is tried again until the database is back, and the answer ends `complete`
    with every character. A long one (over CHAT_FINAL_SAVE_SECONDS): the tab is told
    `unavailable`, and when the database returns the answer is saved as that error
    with its whole text; nothing stays `streaming`."""
    from tests.e2e.proxy import CuttableProxy

    if not server_env.get("DATABASE_URL"):
        pytest.skip("needs PostgreSQL (DATABASE_URL): the outage is cut between the two")
    database = urlsplit(server_env["DATABASE_URL"])
    proxy = CuttableProxy(database.port or 5432)
    env = {
        **server_env,
        "DATABASE_URL": urlunsplit(database._replace(netloc=f"postgres@127.0.0.1:{proxy.port}")),
        "DATABASE_POOL_TIMEOUT": "1",  # a borrow fails fast while the database is down
        "CHAT_FINAL_SAVE_SECONDS": "4",
        "CHAT_STALE_STREAM_SECONDS": "300",  # no sweep settles these answers
        "DEMO_TOKEN_DELAY_MS": "20",
    }
    server = start_server("outage", env, tmp_path)
    stack = ExitStack()
    try:
        client, conversation_id = sign_up(server.url)
        ws, _ = open_socket(stack, server, client, conversation_id)
        api = f"{server.url}/api/conversations/{conversation_id}/"

        # A short outage, during the answer and its final save.
        ws.send(json.dumps({"type": "user_message", "content": "Tell me a story"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "message"
        proxy.pause()
        wait_for_log(server, "trying again")  # a final save failed
        proxy.resume()
        answer_id, frames, text = read_answer(ws)
        assert frames[-1]["status"] == "complete", frames[-1]
        answer = httpx.get(api, cookies=client.cookies).json()["messages"][-1]
        assert (answer["id"], answer["status"]) == (answer_id, "complete")
        assert answer["content"] == text and len(text) > 100

        # A long outage: the tab hears `unavailable`; the text is saved when it is over.
        ws.send(json.dumps({"type": "user_message", "content": "Another story"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "message"
        proxy.pause()
        answer_id, frames, text = read_answer(ws)
        proxy.resume()
        assert frames[-1]["status"] == "error"
        assert [f["code"] for f in frames if f["type"] == "error"] == ["unavailable"]

        def late_saved() -> dict | None:
            response = httpx.get(api, cookies=client.cookies)
            if response.status_code == 503:  # the database is not back yet: readable
                assert response.json()["error"]["code"] == "unavailable"
                return None
            answer = response.json()["messages"][-1]
            return answer if answer["status"] != "streaming" else None

        answer = wait_for_sync(late_saved, timeout=30, what="the late save")
        assert (answer["id"], answer["status"], answer["error_code"]) == (
            answer_id,
            "error",
            "unavailable",
        )
        assert answer["content"] == text and len(text) > 100
    finally:
        stack.close()
        proxy.close()
        server.stop()
        if server in RUNNING_SERVERS:
            RUNNING_SERVERS.remove(server)


def saved_answer(env: dict, message_id: str) -> tuple[str, str, str]:
    """(status, error_code, content) of a message, read from the servers' database
    itself (the server that wrote it may be gone)."""
    query = "SELECT status, error_code, content FROM chat_message WHERE id = %s"
    if env.get("DATABASE_URL"):
        import psycopg

        with psycopg.connect(env["DATABASE_URL"]) as conn:
            return conn.execute(query, (message_id,)).fetchone()
    import sqlite3

    with sqlite3.connect(env["SQLITE_PATH"]) as conn:
        return conn.execute(query.replace("%s", "?"), (message_id.replace("-", ""),)).fetchone()


LONG_ECHO = "/echo " + " ".join(f"word{i}" for i in range(120))


@pytest.mark.parametrize(
    ("grace", "status", "errors"),
    [("30", "complete", []), ("0.5", "error", ["interrupted"])],
    ids=["finishes-in-grace", "interrupted-after-grace"],
)
def test_sigterm_drains_answers_before_the_process_exits(
    server_env: dict, tmp_path: Path, grace: str, status: str, errors: list[str]
) -> None:
    """SIGTERM while an answer streams (about 5 s of it): the process refuses new
    answers at once (`unavailable`, nothing saved), lets the running one go on for
    CHAT_SHUTDOWN_GRACE_SECONDS, then saves what is left as interrupted; the tab sees
    the end, the saved text equals what it was shown, and the process exits."""
    import os
    import signal
    import time

    env = {**server_env, "DEMO_TOKEN_DELAY_MS": "40", "CHAT_SHUTDOWN_GRACE_SECONDS": grace}
    server = start_server(f"sigterm-{grace}", env, tmp_path)
    stack = ExitStack()
    try:
        client, conversation_id = sign_up(server.url)
        other = client.post(
            "/api/conversations/",
            json={"title": ""},
            headers={"X-CSRFToken": client.cookies["csrftoken"], "Referer": f"{server.url}/"},
        ).json()["id"]
        ws, _ = open_socket(stack, server, client, conversation_id)
        late, _ = open_socket(stack, server, client, other)
        ws.send(json.dumps({"type": "user_message", "content": LONG_ECHO}))
        frames = []
        while not any(f["type"] == "chunk" for f in frames):
            frames.append(json.loads(ws.recv(timeout=10)))
        os.kill(server.process.pid, signal.SIGTERM)
        signalled = time.monotonic()
        wait_for_log(server, "shutting down: waiting")
        late.send(json.dumps({"type": "user_message", "content": "Too late"}))
        refusal = json.loads(late.recv(timeout=10))
        assert (refusal["type"], refusal["code"]) == ("error", "unavailable"), refusal
        while frames[-1]["type"] != "end":
            frames.append(json.loads(ws.recv(timeout=30)))
        (answer_id,) = {f["message_id"] for f in frames if f["type"] == "start"}
        text = "".join(f["text"] for f in frames if f["type"] == "chunk")
        assert frames[-1]["status"] == status
        assert [f["code"] for f in frames if f["type"] == "error"] == errors
        saved_status, saved_code, saved_text = saved_answer(env, answer_id)
        assert (saved_status, saved_code) == (status, errors[0] if errors else "")
        assert saved_text == text
        if status == "complete":
            assert text == LONG_ECHO[len("/echo ") :]
        else:
            assert 0 < len(text) < len(LONG_ECHO) - len("/echo ")
        server.process.wait(timeout=30)
        print(f"grace {grace}: exited {time.monotonic() - signalled:.1f} s after SIGTERM")
        assert server.process.returncode == 0, server.log_tail()
    finally:
        stack.close()
        server.stop()
        if server in RUNNING_SERVERS:
            RUNNING_SERVERS.remove(server)
