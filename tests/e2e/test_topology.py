"""The production topology, run from real processes (tests/e2e/topology.py): users on
nginx in front of three Daphne processes, two Redis servers, one PostgreSQL.

Everything goes through nginx, over real WebSockets and HTTP. The timings the issue
asks for are printed (run with -s to see them) and kept out of the assertions, except
as generous bounds on what "within a bounded time" means.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.topology import Topology, nginx_binary
from tests.support import workers
from tests.support.waiting import wait_for_sync

pytestmark = pytest.mark.e2e

IN_CI = os.environ.get("CI", "").lower() == "true"
LONG_ECHO = "/echo " + " ".join(f"word{i}" for i in range(100))  # about 4 s at 40 ms


def _pg_admin(database_url: str, sql: str) -> None:
    import psycopg

    admin = urlunsplit(urlsplit(database_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    missing = []
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith("postgres"):
        missing.append("PostgreSQL (DATABASE_URL)")
    if not nginx_binary():
        missing.append("nginx (Debian's package)")
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true but the topology test cannot run: no {', '.join(missing)}")
        pytest.skip(f"the topology test needs {', '.join(missing)}")
    name = f"{urlsplit(base_url).path.lstrip('/') or 'chat'}_topology{workers.suffix()}"
    _pg_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(base_url, f'CREATE DATABASE "{name}"')
    topology = Topology(
        urlunsplit(urlsplit(base_url)._replace(path=f"/{name}")),
        {
            "DEMO_TOKEN_DELAY_MS": "40",
            "CHAT_PROGRESS_SAVE_SECONDS": "0.5",
            "SIGNUP_RATE_LIMIT": "1000",  # every user signs up from 127.0.0.1
            "CHAT_RATE_LIMIT_PER_MINUTE": "1000",
            "CHAT_MAX_ACTIVE_ANSWERS_PER_USER": "10",
        },
    )
    try:
        topology.start()
        yield topology
    except BaseException:
        print(topology.logs())
        raise
    finally:
        topology.stop()
        _pg_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- Clients ----------------------------------------------------------------------------


class User:
    """A user signed up through nginx, with an HTTP client holding their session."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, follow_redirects=True, timeout=10)
        page = self.http.get("/accounts/signup/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        name = f"topo-{uuid.uuid4().hex[:10]}"
        self.http.post(
            "/accounts/signup/",
            data={
                "csrfmiddlewaretoken": token,
                "username": name,
                "password1": "a-Long-pass-123",
                "password2": "a-Long-pass-123",
            },
            headers={"Referer": f"{base_url}/accounts/signup/"},
        ).raise_for_status()

    def conversation(self) -> str:
        created = self.http.post(
            "/api/conversations/",
            json={"title": ""},
            headers={"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": self.base_url},
        )
        created.raise_for_status()
        return created.json()["id"]

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/api/conversations/{conversation_id}/")
        response.raise_for_status()
        return response.json()["messages"]

    def socket(self, conversation_id: str) -> tuple[ClientConnection, dict[str, Any]]:
        """A chat socket through nginx, and its history frame."""
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        ws = connect(
            f"ws://{urlsplit(self.base_url).netloc}/ws/chat/{conversation_id}/?chunk=token",
            additional_headers={"Cookie": cookie, "Origin": self.base_url},
            open_timeout=10,
        )
        history = json.loads(ws.recv(timeout=10))
        assert history["type"] == "history", history
        return ws, history


def frames_until_end(ws: ClientConnection, timeout: float = 30) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1]["type"] != "end":
        frames.append(json.loads(ws.recv(timeout=timeout)))
    return frames


def chunk_text(frames: list[dict[str, Any]], message_id: str) -> str:
    return "".join(
        f["text"] for f in frames if f["type"] == "chunk" and f["message_id"] == message_id
    )


def two_tabs_on_two_processes(
    topology: Topology, user: User, conversation_id: str, stack: ExitStack
) -> tuple[tuple[ClientConnection, Any], tuple[ClientConnection, Any]]:
    """Two sockets of one conversation that nginx sent to different processes."""
    path = f"/ws/chat/{conversation_id}/"
    seen: dict[str, int] = {}
    first, _ = user.socket(conversation_id)
    stack.callback(first.close)
    first_web = topology.web_of_socket(path, seen)
    for _ in range(6):
        other, _ = user.socket(conversation_id)
        stack.callback(other.close)
        other_web = topology.web_of_socket(path, seen)
        if other_web is not first_web:
            return (first, first_web), (other, other_web)
    raise AssertionError("nginx sent six sockets in a row to the same process")


# --- The scenarios ----------------------------------------------------------------------


def test_two_tabs_on_two_processes_see_one_answer_and_stop_it_across(
    topology: Topology,
) -> None:
    user = User(topology.url)
    conversation_id = user.conversation()
    with ExitStack() as stack:
        (asking, asking_web), (watching, watching_web) = two_tabs_on_two_processes(
            topology, user, conversation_id, stack
        )
        # One whole answer, seen live by both tabs.
        asking.send(json.dumps({"type": "user_message", "content": "Hello from two tabs"}))
        asked, watched = frames_until_end(asking), frames_until_end(watching)
        (answer_id,) = {f["message_id"] for f in asked if f["type"] == "start"}
        saved = user.messages(conversation_id)[-1]
        assert (saved["id"], saved["status"]) == (answer_id, "complete")
        assert chunk_text(asked, answer_id) == chunk_text(watched, answer_id) == saved["content"]
        # Both Redis servers carry the layer's traffic: channels and groups shard over
        # them by name, so a few more sockets (names at random) reach both for sure.
        for _ in range(8):
            if all(server.subscriptions() for server in topology.redis):
                break
            stack.callback(user.socket(user.conversation())[0].close)
        assert all(server.subscriptions() for server in topology.redis)
        # A stop from the tab on the other process ends an answer running in this one.
        asking.send(json.dumps({"type": "user_message", "content": LONG_ECHO}))
        while json.loads(watching.recv(timeout=10))["type"] != "chunk":
            pass
        watching.send(json.dumps({"type": "stop"}))
        asked, watched = frames_until_end(asking), frames_until_end(watching)
        assert asked[-1]["status"] == watched[-1]["status"] == "stopped"
        saved = user.messages(conversation_id)[-1]
        assert saved["status"] == "stopped" and len(saved["content"]) < len(LONG_ECHO) - 6
        print(f"tabs on {asking_web.name} and {watching_web.name}; stop crossed processes")


def test_a_killed_process_answer_settles_in_the_tab_that_stays(topology: Topology) -> None:
    user = User(topology.url)
    conversation_id = user.conversation()
    with ExitStack() as stack:
        (asking, doomed), (watching, survivor) = two_tabs_on_two_processes(
            topology, user, conversation_id, stack
        )
        asking.send(json.dumps({"type": "user_message", "content": LONG_ECHO}))
        seen: list[dict[str, Any]] = []
        while sum(f["type"] == "chunk" for f in seen) < 5:
            seen.append(json.loads(watching.recv(timeout=10)))
        doomed.kill()
        killed = time.monotonic()
        seen += frames_until_end(watching, timeout=60)
        settled = time.monotonic() - killed
        assert seen[-1]["status"] == "error"
        assert [f["code"] for f in seen if f["type"] == "error"] == ["interrupted"]
        # The conversation works again, through nginx, on the processes that are left.
        watching.send(json.dumps({"type": "user_message", "content": "Still there?"}))
        after = frames_until_end(watching)
        assert after[-1]["status"] == "complete"
        print(f"SIGKILLed {doomed.name}: its answer settled in {settled:.1f} s for the tab")
        assert settled < 15  # the shipped staleness window (10 s), judged by one clock
    doomed.start()  # the next scenario runs on three processes again
    assert survivor.running()


def read_answer(ws: ClientConnection) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Frames up to the answer's `end`, or up to a refusal (an `error` frame that
    belongs to no answer): (frames, the refusal or None)."""
    frames: list[dict[str, Any]] = []
    while True:
        frame = json.loads(ws.recv(timeout=60))
        frames.append(frame)
        if frame["type"] == "error" and "message_id" not in frame:
            return frames, frame
        if frame["type"] == "end":
            return frames, None


class Chatter(threading.Thread):
    """A user who keeps asking, as the page does: a socket through nginx that
    reconnects when its process goes away, follows its answer from the history,
    resends (same client_id) what was not saved, and waits out a refusal."""

    def __init__(self, user: User, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.user = user
        self.conversation_id = user.conversation()
        self.stop_asking = stop
        self.seen_whole: dict[str, str] = {}  # answer id -> its text, seen live from its start
        self.asked = 0
        self.reconnects = 0
        self.refusals = 0
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop_asking.is_set():
                self.ask(f"c{self.asked}-{uuid.uuid4().hex[:6]}")
                self.asked += 1
        except BaseException as exc:  # reported by the test
            self.failure = exc

    def ask(self, client_id: str) -> None:
        ws = self._connect()[0]
        send, whole = True, True
        try:
            while True:
                try:
                    if send:
                        frame = {"type": "user_message", "content": f"Q {client_id}"}
                        ws.send(json.dumps({**frame, "client_id": client_id}))
                    frames, refusal = read_answer(ws)
                except ConnectionClosed:  # its process stopped: another one takes over
                    ws.close()
                    self.reconnects += 1
                    ws, history = self._connect()
                    saved = [m.get("client_id") for m in history["messages"]]
                    answer = self._answer_to(history["messages"], client_id)
                    if client_id not in saved:
                        send = True  # never saved: send it again
                    elif answer is not None and answer["status"] != "streaming":
                        return  # it ended while this tab was away
                    else:
                        send, whole = False, False  # follow it on the new socket
                    continue
                if refusal is not None:
                    assert refusal["code"] == "unavailable", refusal  # a draining process
                    self.refusals += 1
                    time.sleep(refusal.get("retry_after", 1))
                    send = True
                    continue
                starts = [f["message_id"] for f in frames if f["type"] == "start"]
                if whole and starts:
                    self.seen_whole[starts[0]] = chunk_text(frames, starts[0])
                return
        finally:
            ws.close()

    def _connect(self) -> tuple[ClientConnection, dict[str, Any]]:
        deadline = time.monotonic() + 30
        while True:
            try:
                return self.user.socket(self.conversation_id)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    @staticmethod
    def _answer_to(messages: list[dict[str, Any]], client_id: str) -> dict[str, Any] | None:
        for index, message in enumerate(messages):
            if message.get("client_id") == client_id and index + 1 < len(messages):
                return messages[index + 1]
        return None


def test_a_rolling_restart_loses_no_answer(topology: Topology) -> None:
    """Six users keep asking while each process in turn gets SIGTERM, exits and starts
    again: every answer ends `complete`, none is left `streaming`, and each answer a
    tab saw whole equals the saved text."""
    stop = threading.Event()
    chatters = [Chatter(User(topology.url), stop) for _ in range(6)]
    for chatter in chatters:
        chatter.start()
    wait_for_sync(lambda: sum(c.asked for c in chatters) >= 6, timeout=60, what="answers")
    exits = []
    for web in topology.webs:
        exits.append(web.terminate())
        web.start()
    stop.set()
    for chatter in chatters:
        chatter.join(timeout=120)
    failures = [c.failure for c in chatters if c.failure is not None]
    assert not failures, failures
    statuses: dict[str, int] = {}
    compared = 0
    for chatter in chatters:
        messages = chatter.user.messages(chatter.conversation_id)
        answers = [m for m in messages if m["role"] == "assistant"]
        questions = [m for m in messages if m["role"] == "user"]
        assert len(answers) == len(questions) == chatter.asked, (chatter.asked, messages)
        for answer in answers:
            statuses[answer["status"]] = statuses.get(answer["status"], 0) + 1
            if answer["id"] in chatter.seen_whole:
                assert chatter.seen_whole[answer["id"]] == answer["content"]
                compared += 1
    total = sum(statuses.values())
    print(
        f"rolling restart: {total} answers, {statuses}; {compared} compared with what a tab"
        f" saw whole; {sum(c.reconnects for c in chatters)} reconnects,"
        f" {sum(c.refusals for c in chatters)} refusals while draining;"
        f" processes exited {', '.join(f'{s:.1f}' for s in exits)} s after SIGTERM"
    )
    assert statuses == {"complete": total}


def test_readiness_follows_redis_on_every_process(topology: Topology) -> None:
    """/readyz of each process (probes reach processes directly; nginx answers 404):
    503 while a Redis server is down, the reason in the process's log only, 200 again
    once it is back, with no web process restarted."""
    pids = [web.process.pid for web in topology.webs]
    assert httpx.get(f"{topology.url}/readyz").status_code == 404
    web = topology.webs[0]
    assert httpx.get(f"{web.url}/readyz").status_code == 200
    shard = topology.redis[1]
    shard.stop()
    try:
        down = wait_for_sync(
            lambda: (r := httpx.get(f"{web.url}/readyz", timeout=10)).status_code == 503 and r,
            timeout=30,
            what="/readyz to say 503",
        )
        assert down.json() == {"status": "unavailable"}
        assert any(
            event.get("logger") == "chat.ops.health"
            and event["message"].startswith("not ready: channel layer")
            for event in web.events()
        ), web.log_tail()
    finally:
        shard.start()
    back = time.monotonic()

    def ready_everywhere() -> bool:
        # Three in a row from each process: a process whose layer has just reconnected
        # may answer one round trip late.
        codes = [
            httpx.get(f"{web.url}/readyz", timeout=10).status_code
            for web in topology.webs
            for _ in range(3)
        ]
        return codes == [200] * len(codes)

    wait_for_sync(ready_everywhere, timeout=60, what="every process to be ready again")
    print(f"/readyz recovered {time.monotonic() - back:.1f} s after Redis returned")
    assert [web.process.pid for web in topology.webs] == pids
