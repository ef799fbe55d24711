"""The edge: Debian's nginx running the shipped deploy/nginx.conf (its ports, certificate
and log path made local, tests/e2e/topology.py) and Daphne's own access log.

Behind nginx is a small upstream that answers every request with the path and the
headers it received, so a test sees what nginx passed on and what it kept back; the
topology test runs the same file in front of real Daphne processes. Each test speaks
from its own loopback address (127.0.0.x), so the per-address limits of one test do
not spill into another.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.e2e.servers import Server, free_port
from tests.e2e.topology import NginxPorts, nginx_binary, start_nginx
from tests.support.waiting import wait_for_sync

pytestmark = pytest.mark.e2e

IN_CI = os.environ.get("CI", "").lower() == "true"


class EchoHandler(BaseHTTPRequestHandler):
    """Answers 200 with the request line's path and its headers, as JSON."""

    protocol_version = "HTTP/1.1"
    seen: list[dict[str, object]] = []
    release = threading.Event()  # a request to /slow/ waits for it

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        entry = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        EchoHandler.seen.append(entry)
        if self.path.startswith("/slow/"):
            EchoHandler.release.wait(timeout=30)
        body = json.dumps(entry).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class EchoServer(ThreadingHTTPServer):
    request_queue_size = 256  # nginx opens 100 connections to it at once
    daemon_threads = True


@dataclass
class Edge:
    ports: NginxPorts
    workdir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    def client(self, source: str, **kwargs: object) -> httpx.Client:
        """A client speaking from loopback address `source` (its own rate-limit key)."""
        transport = httpx.HTTPTransport(local_address=source, verify=kwargs.pop("verify", True))
        return httpx.Client(transport=transport, timeout=10, **kwargs)  # type: ignore[arg-type]

    def access_log(self) -> str:
        return (self.workdir / "logs" / "access.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    if not nginx_binary():
        if IN_CI:
            pytest.fail("CI=true but nginx is not installed")
        pytest.skip("the edge test needs nginx (Debian's package)")
    upstream = EchoServer(("127.0.0.1", free_port()), EchoHandler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    workdir = tmp_path_factory.mktemp("edge")
    ports = NginxPorts()
    nginx = start_nginx(workdir, [upstream.server_address[1]], ports, ready_path="/")
    try:
        yield Edge(ports, workdir)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        upstream.shutdown()


def forwarded(response: httpx.Response) -> dict[str, str]:
    """The headers the upstream received for this request."""
    assert response.status_code == 200, response.text
    return response.json()["headers"]


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/metrics", "//readyz", "/./metrics", "/readyz?x=1"]
)
def test_operations_paths_are_not_served_through_nginx(edge: Edge, path: str) -> None:
    """Probes and scrapes go to each process directly: through nginx, 404, and the
    processes never see the request (issue #21: /readyz was public)."""
    EchoHandler.seen.clear()
    with edge.client("127.0.0.2") as client:
        response = client.get(f"{edge.url}{path}")
    assert response.status_code == 404
    assert EchoHandler.seen == []


def test_no_version_in_the_server_header_or_error_pages(edge: Edge) -> None:
    with edge.client("127.0.0.3") as client:
        ok = client.get(f"{edge.url}/")
        denied = client.get(f"{edge.url}/readyz")
    assert ok.headers["server"] == denied.headers["server"] == "nginx"
    assert "nginx/" not in denied.text


def raw_request(edge: Edge, headers: dict[str, str]) -> dict[str, str]:
    """GET /ws/chat/1/ with exactly these headers; the headers the upstream got."""
    connection = http.client.HTTPConnection("127.0.0.1", edge.ports.http, timeout=10)
    try:
        connection.request("GET", "/ws/chat/1/", headers=headers)
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())["headers"]
    finally:
        connection.close()


def test_only_a_websocket_upgrade_is_passed_on(edge: Edge) -> None:
    """`Upgrade: websocket` reaches the process with `Connection: upgrade`; any other
    protocol (h2c here) arrives as a plain request without Upgrade (issue #21: nginx
    passed on whatever Upgrade it was sent)."""
    socket = raw_request(edge, {"Upgrade": "websocket", "Connection": "Upgrade"})
    assert socket["upgrade"] == "websocket" and socket["connection"] == "upgrade"
    other = raw_request(edge, {"Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings"})
    assert "upgrade" not in other and other["connection"] == "close"


def statuses(client: httpx.Client, method: str, url: str, count: int) -> list[int]:
    return [client.request(method, url).status_code for _ in range(count)]


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("/accounts/login/", "127.0.0.4"),
        ("/admin/login/", "127.0.0.5"),
        ("/accounts/signup/", "127.0.0.6"),
    ],
)
def test_log_in_and_sign_up_posts_beyond_the_rate_get_429(
    edge: Edge, path: str, source: str
) -> None:
    """A burst of form posts from one address: the first pass, the rest 429 without
    reaching the process; the page itself (GET) is never limited."""
    with edge.client(source) as client:
        assert statuses(client, "GET", f"{edge.url}{path}", 40) == [200] * 40
        posts = statuses(client, "POST", f"{edge.url}{path}", 40)
    assert posts[:2] == [200, 200] and 429 in posts
    assert set(posts) == {200, 429}


@pytest.mark.parametrize(
    ("path", "count", "source"),
    [
        ("/api/conversations/", 400, "127.0.0.7"),
        ("/v1/models", 400, "127.0.0.8"),
        ("/ws/chat/1/", 100, "127.0.0.9"),
    ],
)
def test_apis_and_socket_upgrades_are_rate_limited(
    edge: Edge, path: str, count: int, source: str
) -> None:
    """The APIs and WebSocket handshakes have a per-address limit too; another
    address is not affected by one that is over it."""
    with edge.client(source) as client:
        seen = statuses(client, "GET", f"{edge.url}{path}", count)
    assert seen[0] == 200 and 429 in seen
    with edge.client("127.0.0.10") as other:
        assert other.get(f"{edge.url}{path}").status_code == 200


def test_open_connections_per_address_are_limited(edge: Edge) -> None:
    """100 requests in progress from one address (slow answers): the 101st is
    refused with 429 at once, while another address is still served."""
    EchoHandler.release.clear()
    held = []
    try:
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", edge.ports.http), timeout=10)
            sock.sendall(b"GET /slow/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
            held.append(sock)
        wait_for_sync(
            lambda: sum(1 for e in EchoHandler.seen if e["path"] == "/slow/") >= 100,
            timeout=30,
            what="100 requests waiting upstream",
        )

        with edge.client("127.0.0.1") as client:
            assert client.get(f"{edge.url}/").status_code == 429
        with edge.client("127.0.0.13") as other:
            assert other.get(f"{edge.url}/").status_code == 200
    finally:
        EchoHandler.release.set()
        for sock in held:
            sock.close()


def test_the_access_log_has_no_query_strings(edge: Edge) -> None:
    """A search's words stay out of nginx's access log (issue #21)."""
    secret = f"secret-{uuid.uuid4().hex}"
    with edge.client("127.0.0.11") as client:
        assert client.get(f"{edge.url}/api/search/", params={"q": secret}).status_code == 200
    line = wait_for_sync(
        lambda: [x for x in edge.access_log().splitlines() if "127.0.0.11" in x],
        what="the access line",
    )
    assert "GET /api/search/ HTTP/1.1" in line[-1]
    assert secret not in edge.access_log() and "?q=" not in edge.access_log()


def test_tls_is_served_with_the_configured_certificate(edge: Edge) -> None:
    """The shipped TLS server: the certificate from its configured path (a self-signed
    one made for the test), HTTPS passed on as X-Forwarded-Proto."""
    context = ssl.create_default_context(cafile=str(edge.workdir / "certs" / "fullchain.pem"))
    context.check_hostname = False  # the certificate names localhost; we dial 127.0.0.1
    with edge.client("127.0.0.12", verify=context) as client:
        response = client.get(f"https://127.0.0.1:{edge.ports.tls}/")
    assert response.headers["server"] == "nginx"
    headers = forwarded(response)
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-real-ip"] == headers["x-forwarded-for"] == "127.0.0.12"


def test_daphnes_access_log_has_no_query_strings(server: Server) -> None:
    """A real Daphne process with its access log on (the default, as the Dockerfile
    runs it): a search is logged by its path, without the words searched for."""
    secret = f"secret-{uuid.uuid4().hex}"
    marker = f"/api/search/{uuid.uuid4().hex[:6]}/"
    httpx.get(f"{server.url}/api/search/", params={"q": secret}, timeout=10)
    httpx.get(f"{server.url}{marker}", params={"q": secret}, timeout=10)  # logged after it
    wait_for_sync(lambda: marker in server.log_path.read_text(), what="Daphne's access line")
    log = server.log_path.read_text()
    assert '"GET /api/search/"' in log
    assert secret not in log
