"""The production topology, from real processes on this machine.

PostgreSQL (a database of its own on DATABASE_URL's server), two throwaway Redis
servers (the channel layer shards over both), `migrate` and `collectstatic` as the
compose file and the Dockerfile run them, three Daphne processes started with the
Dockerfile's CMD (only the address and port changed), with the environment the
compose file gives `web`, and Debian's nginx running deploy/nginx.conf with one
`server` line per process. Everything the tests do goes through nginx.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.servers import REPO_ROOT, free_port
from tests.support.redis_server import RedisProcess

NGINX_CONF = REPO_ROOT / "deploy" / "nginx.conf"
DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
START_TIMEOUT = 30.0


# --- What the deployment files say ---------------------------------------------------


def dockerfile_cmd() -> list[str]:
    """The Dockerfile's CMD (exec form), as a list."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    match = re.search(r"^CMD\s+(\[.*\])\s*$", text, re.M)
    assert match, "the Dockerfile has no exec-form CMD"
    return json.loads(match.group(1))


def dockerfile_run_lines() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [line[len("RUN ") :].strip() for line in text.splitlines() if line.startswith("RUN ")]


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_env(service: str, overrides: dict[str, str]) -> dict[str, str]:
    """A compose service's environment as compose would give it with nothing set in
    the shell: `${X:-default}` is the default, `${X}` empty; `overrides` win (secrets
    and the addresses of this machine's services)."""
    env: dict[str, str] = {}
    for name, value in compose()["services"][service]["environment"].items():
        if name in overrides:
            env[name] = overrides[name]
            continue
        text = str(value)
        if re.search(r"\$\{[A-Z_]+:\?", text):
            raise AssertionError(f"compose requires {name}: the topology must set it")
        text = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)
        env[name] = re.sub(r"\$\{[A-Z_]+\}", "", text)
    return {**env, **overrides}


def web_command(port: int) -> list[str]:
    """The Dockerfile's CMD with this machine's daphne, on loopback port `port`."""
    command = dockerfile_cmd()
    assert command[0] == "daphne", command
    command[0] = str(Path(sys.executable).with_name("daphne"))
    command[command.index("-b") + 1] = "127.0.0.1"
    command[command.index("-p") + 1] = str(port)
    return command


@dataclass
class NginxPorts:
    """Where a test's nginx listens on loopback: plain HTTP, TLS, its own health."""

    http: int = field(default_factory=free_port)
    tls: int = field(default_factory=free_port)
    health: int = field(default_factory=free_port)


def render_nginx(ports: list[int], listen: NginxPorts, workdir: Path) -> str:
    """deploy/nginx.conf with its `server web:8000 ...;` line once per process,
    listening on loopback, its certificate and access log in `workdir`; nothing else
    changed."""
    text = NGINX_CONF.read_text()
    match = re.search(r"^(\s*)server web:8000( [^;]*)?;$", text, re.M)
    assert match, "deploy/nginx.conf has no `server web:8000` upstream line"
    indent, params = match.group(1), match.group(2) or ""
    servers = "\n".join(f"{indent}server 127.0.0.1:{port}{params};" for port in ports)
    text = text[: match.start()] + servers + text[match.end() :]
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{listen.http};",
        "listen 443 ssl;": f"listen 127.0.0.1:{listen.tls} ssl;",
        "listen 127.0.0.1:8081;": f"listen 127.0.0.1:{listen.health};",
        "/etc/nginx/certs/": f"{workdir}/certs/",
        "/var/log/nginx/access.log": f"{workdir}/logs/access.log",
    }
    for shipped, local in replacements.items():
        assert shipped in text, f"deploy/nginx.conf has no `{shipped}`"
        text = text.replace(shipped, local)
    return text


def self_signed_certificate(directory: Path, host: str = "localhost") -> None:
    """fullchain.pem and privkey.pem for `host` in `directory`, as the README's
    `make certs` makes them (here with `cryptography`, which Daphne's autobahn needs)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def nginx_binary() -> str | None:
    return shutil.which("nginx", path="/usr/sbin:/usr/bin:/usr/local/sbin")


def start_nginx(
    workdir: Path, ports: list[int], listen: NginxPorts, ready_path: str = "/accounts/login/"
) -> subprocess.Popen[bytes]:
    """Debian's nginx running deploy/nginx.conf in front of `ports`, on `listen`, with
    a self-signed certificate; returns once `ready_path` answers 200 over plain HTTP."""
    nginx = nginx_binary()
    assert nginx, "nginx is not installed (Debian's package: apt-get install nginx)"
    (workdir / "logs").mkdir(exist_ok=True)
    self_signed_certificate(workdir / "certs")
    site = workdir / "site.conf"
    site.write_text(render_nginx(ports, listen, workdir))
    main = workdir / "nginx.conf"
    main.write_text(
        f"daemon off;\npid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/logs/error.log;\nevents {{}}\n"
        f"http {{\n    include {site};\n}}\n"
    )
    process = subprocess.Popen(
        [nginx, "-p", str(workdir), "-c", str(main)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while http_status(f"http://127.0.0.1:{listen.http}{ready_path}") != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            error_log = (workdir / "logs" / "error.log").read_text(errors="replace")
            raise AssertionError(f"nginx did not start:\n{error_log}")
        time.sleep(0.05)
    return process


# --- The processes ----------------------------------------------------------------------


def http_status(url: str, timeout: float = 2) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@dataclass
class Web:
    """One Daphne process of the topology; restartable on its port."""

    name: str
    port: int
    env: dict[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.logs[-1]

    def start(self) -> None:
        self.starts += 1
        log_path = self.workdir / f"{self.name}-{self.starts}.log"
        self.logs.append(log_path)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                web_command(self.port),
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while http_status(f"{self.url}/accounts/login/") is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not start:\n{self.log_tail()}")
            time.sleep(0.05)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self, timeout: float = 60) -> float:
        """SIGTERM, then wait for the exit; returns how long that took."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        assert code == 0, f"{self.name} exited with {code} after SIGTERM:\n{self.log_tail()}"
        return time.monotonic() - began

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def events(self) -> list[dict[str, Any]]:
        """The JSON lines of its logs (LOG_FORMAT=json, as compose sets it)."""
        found = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def log_text(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.logs if path.exists())

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait(timeout=10)


class Topology:
    """Start with `start()`, stop everything with `stop()`; `url` is nginx's."""

    def __init__(self, database_url: str, extra_env: dict[str, str], webs: int = 3) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="chat-topology-"))
        self.database_url = database_url
        self.redis = [self._redis(index) for index in range(2)]
        self.nginx_ports = NginxPorts()
        self.extra_env = extra_env
        self.webs = [Web(f"web-{i + 1}", free_port(), {}, self.workdir) for i in range(webs)]
        self.nginx: subprocess.Popen[bytes] | None = None

    def _redis(self, index: int) -> RedisProcess:
        workdir = self.workdir / f"redis-{index + 1}"
        workdir.mkdir()
        return RedisProcess(free_port(), str(workdir))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_ports.http}"

    @property
    def redis_url(self) -> str:
        return ",".join(server.url for server in self.redis)

    def environment(self) -> dict[str, str]:
        base = {name: os.environ[name] for name in ("HOME", "LANG") if name in os.environ}
        # The image's `python` and `daphne` are this virtualenv's.
        base["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
        env = compose_env(
            "web",
            {
                "SECRET_KEY": "topology-test-secret-key-not-for-production-0123456789",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "CSRF_TRUSTED_ORIGINS": self.url,
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "OPENAI_API_KEY": "",  # the offline demo model
                "OPENAI_BASE_URL": "",
            },
        )
        return {**base, **env, "PYTHONUNBUFFERED": "1", **self.extra_env}

    def start(self) -> None:
        for server in self.redis:
            server.start()
        env = self.environment()
        self._run(compose()["services"]["migrate"]["command"], env)
        for line in dockerfile_run_lines():
            if "collectstatic" in line:  # the image's build step, as the Dockerfile runs it
                self._run(["sh", "-c", line.split("&&")[0]], env)
        for web in self.webs:
            web.env = env
            web.start()
        self._start_nginx()

    def _run(self, command: list[str], env: dict[str, str]) -> None:
        if command[0] == "python":
            command = [sys.executable, *command[1:]]
        result = subprocess.run(
            command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"

    def _start_nginx(self) -> None:
        self.nginx = start_nginx(self.workdir, [web.port for web in self.webs], self.nginx_ports)

    def web_of_socket(self, path: str, seen: dict[str, int]) -> Web:
        """The process whose log shows one more `socket_opened` event for `path` than
        `seen` counts (updated): which process nginx sent a socket to."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for web in self.webs:
                count = sum(
                    1
                    for event in web.events()
                    if event.get("event") == "socket_opened" and event.get("path") == path
                )
                if count > seen.get(web.name, 0):
                    seen[web.name] = count
                    return web
            time.sleep(0.05)
        raise AssertionError(f"no process logged the socket to {path}")

    def logs(self) -> str:
        parts = [f"--- {web.name} ---\n{web.log_tail()}" for web in self.webs]
        error_log = self.workdir / "logs" / "error.log"
        if error_log.exists():
            parts.append(f"--- nginx ---\n{error_log.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for web in self.webs:
            web.stop()
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(timeout=10)
        for server in self.redis:
            server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
