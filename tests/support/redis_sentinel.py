"""A throwaway Redis Sentinel deployment on loopback: a primary, a replica and three
sentinels watching them, quick to fail over (the primary is judged down after
DOWN_AFTER_MS), for tests that kill the primary."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from tests.support.redis_server import _answers_ping, _free_port, redis_server_binary

MASTER_NAME = "chatprimary"
DOWN_AFTER_MS = 1000  # a primary that does not answer for this long is down
FAILOVER_TIMEOUT_MS = 5000
START_TIMEOUT = 10.0


class RedisNode:
    """One redis-server (a data node or a sentinel) on a loopback port."""

    def __init__(self, name: str, port: int, command: list[str], log: Path) -> None:
        self.name = name
        self.port = port
        self.command = command
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers_ping(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                said = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} (redis-server) did not start:\n{said}")
            time.sleep(0.05)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, every connection to it reset."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing is answered, as when the primary's
        host drops off the network (no reset reaches the clients)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.send_signal(signal.SIGCONT)  # a stopped process ignores SIGTERM
            self.process.terminate()
            self.process.wait(timeout=10)


class SentinelDeployment:
    """Start with `start()`; `sentinels` is what REDIS_SENTINELS takes."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.primary = self._data_node("primary", replica_of=None)
        self.replica = self._data_node("replica", replica_of=self.primary.port)
        self.sentinel_nodes = [self._sentinel(index) for index in range(3)]

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.sentinel_nodes)

    def _data_node(self, name: str, replica_of: int | None) -> RedisNode:
        port = _free_port()
        directory = self.workdir / name
        directory.mkdir()
        command = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
        if replica_of is not None:
            command += ["--replicaof", "127.0.0.1", str(replica_of)]
        return RedisNode(name, port, command, self.workdir / f"{name}.log")

    def _sentinel(self, index: int) -> RedisNode:
        port = _free_port()
        config = self.workdir / f"sentinel-{index + 1}.conf"  # a sentinel rewrites it
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.primary.port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        command = [redis_server_binary(), str(config), "--sentinel"]
        name = f"sentinel-{index + 1}"
        return RedisNode(name, port, command, self.workdir / f"{name}.log")

    def start(self) -> None:
        """Start every node; returns once the replica is in sync and every sentinel
        knows the replica and the other two sentinels (so a failover can happen)."""
        self.primary.start()
        self.replica.start()
        for index in range(len(self.sentinel_nodes)):
            try:
                self.sentinel_nodes[index].start()
            except RuntimeError:  # its port taken meanwhile, say: once more on another
                self.sentinel_nodes[index] = self._sentinel(index)
                self.sentinel_nodes[index].start()
        self.wait(lambda: self._info(self.replica.port).get("master_link_status") == "up")
        self.wait(self._sentinels_ready, "the sentinels to find each other and the replica")

    def _sentinels_ready(self) -> bool:
        for node in self.sentinel_nodes:
            state = self._sentinel_state(node.port)
            if state.get("num-other-sentinels") != 2 or state.get("num-slaves") != 1:
                return False
        return True

    def primary_port(self) -> int | None:
        """The port the sentinels agree is the primary's now, if they all do."""
        ports = {self._sentinel_state(node.port).get("port") for node in self.sentinel_nodes}
        if len(ports) != 1 or None in ports:
            return None
        return ports.pop()

    def _sentinel_state(self, port: int) -> dict[str, Any]:
        """What the sentinel on `port` says of the primary ({} if it does not answer)."""
        try:
            with redis.Redis(port=port, socket_timeout=1) as client:
                return client.sentinel_master(MASTER_NAME)
        except redis.RedisError:
            return {}

    def _info(self, port: int) -> dict[str, Any]:
        try:
            with redis.Redis(port=port, socket_timeout=1) as client:
                return client.info("replication")
        except redis.RedisError:
            return {}

    def wait(
        self, condition: Callable[[], object], what: str = "the replica to sync", timeout=30.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def stop(self) -> None:
        for node in (*self.sentinel_nodes, self.replica, self.primary):
            node.stop()


@contextmanager
def sentinel_deployment() -> Iterator[SentinelDeployment]:
    """A started SentinelDeployment in a temporary directory, stopped afterwards."""
    deployment = SentinelDeployment(Path(tempfile.mkdtemp(prefix="chat-sentinel-")))
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
        shutil.rmtree(deployment.workdir, ignore_errors=True)
