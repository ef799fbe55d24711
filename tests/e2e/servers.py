"""The servers under test: `daphne` processes serving chatsite.asgi on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT = 30.0

# Servers running now, so a failing test can show their logs.
RUNNING_SERVERS: list[Server] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """One `daphne` process serving chatsite.asgi on loopback."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: Any = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            pytest.fail(
                f"{self.name} exited with code {code}. Its log:\n{self.log_tail(200)}",
                pytrace=False,
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log_file.close()


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> None:
    """Run a manage.py command in the servers' environment; a failure fails the test."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(
            f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}", pytrace=False
        )


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def start_server(name: str, env: dict[str, str], workdir: Path) -> Server:
    port = free_port()
    log_path = workdir / f"{name}.log"
    log_file = log_path.open("wb")
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(
        [*command, "chatsite.asgi:application"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = Server(name, port, process, log_path, log_file)
    RUNNING_SERVERS.append(server)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not _answers_http(f"{server.url}/accounts/login/"):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            RUNNING_SERVERS.remove(server)
            pytest.fail(
                f"{name} did not start on port {port} (exit code {process.poll()}). "
                f"Its log:\n{server.log_tail(200)}",
                pytrace=False,
            )
        time.sleep(0.1)
    return server


@contextmanager
def another_server(name: str, server_env: dict[str, str], **env: str) -> Iterator[Server]:
    """A server of its own beside the session's, with `env` on top of its environment;
    stopped when the block ends."""
    server = start_server(name, {**server_env, **env}, Path(server_env["E2E_WORKDIR"]))
    try:
        yield server
    finally:
        server.stop()
        RUNNING_SERVERS.remove(server)
