"""`make run` as a newcomer runs it: a few quiet lines, then the address to open,
printed once the server answers; Ctrl-C stops it all."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.servers import REPO_ROOT, free_port
from tests.support.waiting import wait_for_sync

READY_SECONDS = 150  # migrations and Daphne's start, on a busy machine
# What would point the server away from its development defaults.
NOT_DEFAULTS = ("DATABASE_URL", "REDIS_URL", "REDIS_SENTINELS", "LLM_MODELS", "LLM_FACTORY")


def in_a_terminal() -> None:
    """A process group of its own, to get Ctrl-C's SIGINT as a terminal sends it, which
    stops it (a test runner started in the background may have SIGINT ignored)."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Run:
    """`make run` in a process group of its own, its output read line by line."""

    def __init__(self, port: int, workdir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in NOT_DEFAULTS}
        env |= {"SQLITE_PATH": str(workdir / "db.sqlite3"), "OPENAI_BASE_URL": ""}
        env |= {"OPENAI_API_KEY": "", "DEBUG": "1", "LOG_LEVEL": "INFO"}
        venv = Path(sys.prefix)  # this test's interpreter: already installed
        command = ["make", "-o", str(venv / "bin/.installed-run"), "run", f"VENV={venv}"]
        self.process = subprocess.Popen(
            [*command, "HOST=127.0.0.1", f"PORT={port}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=in_a_terminal,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, text: str) -> list[str]:
        """The lines up to and including the first that contains `text`."""
        seen: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=READY_SECONDS)
            except queue.Empty:
                line = None
            assert line is not None, f"no {text!r} from make run:\n" + "\n".join(seen)
            seen.append(line)
            if text in line:
                return seen

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[Run, int]]:
    port = free_port()
    run = Run(port, tmp_path)
    yield run, port
    if run.group_alive():
        os.killpg(run.process.pid, signal.SIGKILL)
    run.process.wait(timeout=10)


def status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return int(response.status)


@pytest.mark.timeout(300)
def test_make_run_prints_the_address_last_once_the_server_answers(make_run) -> None:
    """Fewer than 10 lines before the address, none of them django-axes' banner or
    Daphne's HTTP/2 notice; when the address is printed the server answers it; Ctrl-C
    (SIGINT to the group) stops make and the server."""
    run, port = make_run
    lines = run.until(" ready: open ")
    ready = lines[-1]
    base = f"http://127.0.0.1:{port}"
    assert status(f"{base}/accounts/login/") == 200
    assert ready == (
        "Development server (SQLite, in-memory layer, offline demo model) ready: "
        f"open {base}/accounts/signup/"
    )
    assert len(lines) - 1 < 10, "\n".join(lines)
    assert not [line for line in lines if "AXES" in line or "HTTP/2" in line]
    assert not [line for line in lines if "Applying " in line]
    os.killpg(run.process.pid, signal.SIGINT)
    assert run.process.wait(timeout=60) != 0  # interrupted
    wait_for_sync(lambda: not run.group_alive(), timeout=30, what="the server to stop")
