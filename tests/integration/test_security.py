"""Abuse protection through real HTTP, the real database and the real ASGI application:
the sign-up switch and throttle, log-in lockouts (chat and admin) per address and per
username, the same state seen by two Daphne processes, the WebSocket origin rule, and
`check --deploy` with the README's production environment."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from chatsite.asgi import application, protocols
from security.models import SignupAttempt
from security.origins import SiteOriginValidator
from tests.e2e.servers import RUNNING_SERVERS, Server, manage, start_server
from tests.support import workers

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-passphrase-9"
CHAT_LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


# --- Sign-up can be turned off ----------------------------------------------------------


@pytest.mark.django_db
def test_signup_is_open_by_default_and_linked_from_the_login_page(client: Client) -> None:
    assert django_settings.ALLOW_SIGNUP is True  # `make run` sets nothing
    assert client.get("/accounts/signup/").status_code == 200
    assert b'href="/accounts/signup/' in client.get(CHAT_LOGIN).content


@pytest.mark.django_db
def test_closed_signup_is_a_readable_404_and_refuses_a_post(client: Client, settings) -> None:
    settings.ALLOW_SIGNUP = False
    page = client.get("/accounts/signup/")
    assert page.status_code == 404
    assert b"Sign-up is closed" in page.content and b"Traceback" not in page.content
    assert b"/accounts/signup/" not in client.get(CHAT_LOGIN).content
    data = {"username": "sneaky", "password1": PASSWORD, "password2": PASSWORD}
    assert client.post("/accounts/signup/", data).status_code == 404
    assert not get_user_model().objects.filter(username="sneaky").exists()


# --- Log-in lockouts, chat and admin ------------------------------------------------------


@pytest.fixture
def staff(db: Any) -> Any:
    """Two staff users: either log-in page lets them in."""
    users = get_user_model().objects
    return [users.create_user(name, password=PASSWORD, is_staff=True) for name in ("ann", "ben")]


def log_in(path: str, username: str, password: str, ip: str, **extra: Any) -> Any:
    """One log-in from a fresh client (no cookie links the attempts: only the address)."""
    data = {"username": username, "password": password}
    if path == ADMIN_LOGIN:
        data["next"] = "/admin/"
    return Client().post(path, data, REMOTE_ADDR=ip, **extra)


def assert_logged_in(response: Any, path: str) -> None:
    assert response.status_code == 302, response.content[:300]
    assert response.url == ("/admin/" if path == ADMIN_LOGIN else "/")


def assert_locked_out(response: Any) -> None:
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed log-in attempts. Try again in 15 minutes." in body
    assert "Traceback" not in body
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60


@pytest.mark.parametrize("path", [CHAT_LOGIN, ADMIN_LOGIN])
def test_failed_logins_lock_out_only_that_username_from_that_address(path: str, staff: Any) -> None:
    """Five wrong passwords for one name from one address lock that pair out, the
    right password included; the owner elsewhere and other names there still log in."""
    for _ in range(4):
        assert log_in(path, "ann", "wrong", "10.0.0.1").status_code == 200
    assert_locked_out(log_in(path, "ann", "wrong", "10.0.0.1"))
    assert_locked_out(log_in(path, "ann", PASSWORD, "10.0.0.1"))
    # The owner from their own address, and another name from the attacker's address.
    assert_logged_in(log_in(path, "ann", PASSWORD, "10.0.0.2"), path)
    assert_logged_in(log_in(path, "ben", PASSWORD, "10.0.0.1"), path)
    # The state is in the database (shared by every process), not in this process.
    assert (
        AccessAttempt.objects.get(username="ann", ip_address="10.0.0.1").failures_since_start == 5
    )


@pytest.mark.parametrize("path", [CHAT_LOGIN, ADMIN_LOGIN])
def test_failures_spread_over_addresses_or_names_lock_nobody_out(path: str, staff: Any) -> None:
    # One failure for "ann" from each of five addresses: no pair reaches the limit.
    for i in range(1, 6):
        assert log_in(path, "ann", "wrong", f"10.0.1.{i}").status_code == 200
    assert_logged_in(log_in(path, "ann", PASSWORD, "10.0.1.6"), path)
    # Five names guessed from one address: no pair reaches the limit either.
    for i in range(1, 6):
        assert log_in(path, f"guess{i}", "wrong", "10.0.1.9").status_code == 200
    assert_logged_in(log_in(path, "ben", PASSWORD, "10.0.1.9"), path)


def test_attempts_during_a_lockout_do_not_extend_it(staff: Any) -> None:
    for _ in range(5):
        log_in(CHAT_LOGIN, "ann", "wrong", "10.0.2.1")
    attempt = AccessAttempt.objects.get(username="ann", ip_address="10.0.2.1")
    attempt.attempt_time -= timedelta(minutes=10)  # the lockout began 10 minutes ago
    attempt.save()
    for password in ("wrong", PASSWORD):
        refused = log_in(CHAT_LOGIN, "ann", password, "10.0.2.1")
        assert refused.status_code == 429
        assert 4 * 60 < int(refused["Retry-After"]) <= 5 * 60  # what is left, not 15 min
        assert "Try again in 5 minutes." in refused.content.decode()
    attempt.refresh_from_db()
    assert attempt.failures_since_start == 5
    # Once the cool-off has passed since the failure that reached the limit: in again.
    attempt.attempt_time -= timedelta(minutes=5, seconds=1)
    attempt.save()
    assert_logged_in(log_in(CHAT_LOGIN, "ann", PASSWORD, "10.0.2.1"), CHAT_LOGIN)


def test_fewer_failures_than_the_limit_do_not_lock_out(staff: Any) -> None:
    for _ in range(4):
        assert log_in(CHAT_LOGIN, "ann", "wrong", "10.0.2.1").status_code == 200
    assert_logged_in(log_in(CHAT_LOGIN, "ann", PASSWORD, "10.0.2.1"), CHAT_LOGIN)


def test_a_lockout_answers_a_script_in_json(staff: Any) -> None:
    for _ in range(5):
        log_in(CHAT_LOGIN, "ann", "wrong", "10.0.3.1")
    response = log_in(CHAT_LOGIN, "ann", PASSWORD, "10.0.3.1", HTTP_ACCEPT="application/json")
    assert response.status_code == 429 and 14 * 60 < int(response["Retry-After"]) <= 900
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and 14 * 60 < error["retry_after"] <= 900
    assert "Try again in 15 minutes" in error["message"]


def test_a_staff_lockout_is_logged_as_a_warning_once(staff: Any, caplog: Any) -> None:
    get_user_model().objects.create_user("carl", password=PASSWORD)  # not staff
    with caplog.at_level("WARNING", logger="security.lockout"):
        for name in ("ann", "carl"):
            for _ in range(7):  # five to lock out, two more during the lockout
                log_in(CHAT_LOGIN, name, "wrong", "10.0.3.9")
    warnings = [r for r in caplog.records if r.name == "security.lockout"]
    assert [r.levelname for r in warnings] == ["WARNING"]
    assert "'ann'" in warnings[0].getMessage() and "10.0.3.9" in warnings[0].getMessage()


def test_the_proxy_address_header_is_ignored_unless_behind_the_proxy(staff: Any, settings) -> None:
    settings.BEHIND_PROXY = False
    # A client that writes its own X-Real-IP does not escape the lockout of its pair.
    for i in range(5):
        log_in(CHAT_LOGIN, "ann", "wrong", "10.0.4.1", HTTP_X_REAL_IP=f"10.9.0.{i}")
    assert_locked_out(log_in(CHAT_LOGIN, "ann", PASSWORD, "10.0.4.1", HTTP_X_REAL_IP="10.9.1.1"))


def test_behind_the_proxy_each_client_address_counts_on_its_own(staff: Any, settings) -> None:
    settings.BEHIND_PROXY = True
    proxy = "172.18.0.5"  # every request comes from nginx; X-Real-IP is who sent it
    for _ in range(5):
        log_in(CHAT_LOGIN, "ann", "wrong", proxy, HTTP_X_REAL_IP="203.0.113.7")
    assert_locked_out(log_in(CHAT_LOGIN, "ann", PASSWORD, proxy, HTTP_X_REAL_IP="203.0.113.7"))
    assert_logged_in(
        log_in(CHAT_LOGIN, "ann", PASSWORD, proxy, HTTP_X_REAL_IP="203.0.113.8"), CHAT_LOGIN
    )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}


# --- Sign-up throttle -------------------------------------------------------------------------


def sign_up(username: str, ip: str, password2: str = PASSWORD, **extra: Any) -> Any:
    data = {"username": username, "password1": PASSWORD, "password2": password2}
    return Client().post("/accounts/signup/", data, REMOTE_ADDR=ip, **extra)


@pytest.mark.django_db
def test_a_signup_flood_from_one_address_is_throttled(settings) -> None:
    settings.SIGNUP_RATE_LIMIT = 3
    assert sign_up("flood1", "10.1.0.1").status_code == 302
    assert sign_up("flood2", "10.1.0.1", password2="typo").status_code == 200  # counts too
    assert sign_up("flood3", "10.1.0.1").status_code == 302
    rows = SignupAttempt.objects.count()
    refused = sign_up("flood4", "10.1.0.1")
    assert refused.status_code == 429
    assert SignupAttempt.objects.count() == rows  # a refused attempt is not written
    body = refused.content.decode()
    assert "Too many sign-up attempts from your address. Try again in 60 minutes." in body
    assert "Traceback" not in body
    assert 3590 <= int(refused["Retry-After"]) <= 3600
    assert not get_user_model().objects.filter(username="flood4").exists()
    # Another address signs up as usual.
    assert sign_up("elsewhere", "10.1.0.2").status_code == 302
    # A script gets JSON.
    scripted = sign_up("flood5", "10.1.0.1", HTTP_ACCEPT="application/json")
    assert scripted.status_code == 429 and scripted.json()["error"]["code"] == "rate_limited"


@pytest.mark.django_db
def test_the_signup_throttle_lets_in_again_once_the_window_has_passed(settings) -> None:
    settings.SIGNUP_RATE_LIMIT = 2
    for name in ("w1", "w2"):
        assert sign_up(name, "10.1.1.1").status_code == 302
    assert sign_up("w3", "10.1.1.1").status_code == 429
    # The window is 60 minutes: move every attempt 61 minutes into the past.
    for attempt in SignupAttempt.objects.all():
        attempt.created -= timedelta(minutes=61)
        attempt.save()
    assert sign_up("w4", "10.1.1.1").status_code == 302
    assert SignupAttempt.objects.count() == 1  # the expired ones are gone


# --- Two Daphne processes, one database ---------------------------------------------------


def _pg_admin(database_url: str, sql: str) -> None:
    import psycopg

    parts = urllib.parse.urlsplit(database_url)
    admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Two Daphne processes sharing a fresh database (PostgreSQL when DATABASE_URL is
    set), limits set through the environment: 3 failed log-ins, 2 sign-ups."""
    workdir = tmp_path_factory.mktemp("security-servers")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SQLITE_PATH"}}
    env.pop("REDIS_URL", None)  # HTTP only: the in-memory layer is enough
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        LOGIN_FAILURE_LIMIT="3",
        SIGNUP_RATE_LIMIT="2",
        PYTHONUNBUFFERED="1",
    )
    drop = None
    base_url = os.environ.get("DATABASE_URL", "")
    if base_url.startswith("postgres"):
        from psycopg import sql

        parts = urllib.parse.urlsplit(base_url)
        name = f"{parts.path.lstrip('/') or 'postgres'}_security{workers.suffix()}"
        ident = sql.Identifier(name).as_string()
        _pg_admin(base_url, f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)")
        _pg_admin(base_url, f"CREATE DATABASE {ident}")
        env["DATABASE_URL"] = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))

        def drop() -> None:
            _pg_admin(base_url, f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)")

    else:
        env["SQLITE_PATH"] = str(workdir / "security.sqlite3")
    manage(env, "migrate", "--noinput")
    servers = [start_server(f"security-{i}", env, workdir) for i in (1, 2)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
            RUNNING_SERVERS.remove(server)
        if drop is not None:
            drop()


def http_post(server: Server, path: str, form: dict[str, str]) -> tuple[int, str]:
    """A browser's form post over real HTTP: GET the page for the CSRF cookie, then POST."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        page = conn.getresponse()
        page.read()
        cookie = next(v.split(";")[0] for k, v in page.getheaders() if k.lower() == "set-cookie")
        token = cookie.split("=", 1)[1]
        body = urllib.parse.urlencode({**form, "csrfmiddlewaretoken": token})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


@pytest.mark.timeout(180)
def test_two_server_processes_share_the_lockouts_and_the_signup_count(
    two_servers: list[Server],
) -> None:
    a, b = two_servers
    signup = {"username": "victim", "password1": PASSWORD, "password2": PASSWORD}
    assert http_post(a, "/accounts/signup/", signup)[0] == 302
    typo = {"username": "other", "password1": PASSWORD, "password2": "typo"}
    assert http_post(b, "/accounts/signup/", typo)[0] == 200
    # The third sign-up from this address is refused, whichever process counts it.
    status, page = http_post(a, "/accounts/signup/", {**signup, "username": "third"})
    assert status == 429 and "Too many sign-up attempts" in page

    wrong = {"username": "victim", "password": "wrong"}
    assert http_post(a, CHAT_LOGIN, wrong)[0] == 200
    assert http_post(b, CHAT_LOGIN, wrong)[0] == 200
    assert http_post(a, CHAT_LOGIN, wrong)[0] == 429  # the third failure, over two processes
    status, page = http_post(b, CHAT_LOGIN, {"username": "victim", "password": PASSWORD})
    assert status == 429 and "Try again in 15 minutes" in page
    status, page = http_post(a, ADMIN_LOGIN, {"username": "victim", "password": PASSWORD})
    assert status == 429 and "Try again in 15 minutes" in page


# --- WebSocket origins ----------------------------------------------------------------------


@database_sync_to_async
def session_and_conversation() -> tuple[str, str]:
    from chat.models import Conversation

    user = get_user_model().objects.create_user(f"wes-{uuid.uuid4().hex[:8]}", password=PASSWORD)
    client = Client()
    client.force_login(user)
    conversation = Conversation.objects.create(owner=user)
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value, str(conversation.pk)


async def opens(app: Any, origin: str | None, host: str = "127.0.0.1:8000", **headers: str) -> bool:
    """Whether a logged-in owner's socket to their own conversation is accepted."""
    cookie, conversation_id = await session_and_conversation()
    session = f"{django_settings.SESSION_COOKIE_NAME}={cookie}"
    raw = [(b"host", host.encode()), (b"cookie", session.encode())]
    if origin is not None:
        raw.append((b"origin", origin.encode()))
    raw += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    ws = WebsocketCommunicator(app, f"/ws/chat/{conversation_id}/", headers=raw)
    connected, _ = await ws.connect(timeout=5)
    if connected:
        history = json.loads(await ws.receive_from(timeout=5))
        assert history["type"] == "history"
        await ws.disconnect()
    return connected


def ws_test(test: Any) -> Any:
    """A socket test: committed rows (the consumer reads them from its own thread) and
    the real Redis channel layer."""
    return pytest.mark.django_db(transaction=True)(pytest.mark.usefixtures("redis_layer")(test))


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        ("http://127.0.0.1:8000", True),  # the page's own origin
        ("https://127.0.0.1:8000", False),  # another scheme
        ("http://127.0.0.1:8001", False),  # another port
        ("http://127.0.0.1", False),  # the default port, 80, is another port too
        ("http://evil.example:8000", False),  # another host
        ("http://localhost:8000", False),  # an allowed host, but not this site's origin
        ("null", False),  # a sandboxed frame or a file
        (None, False),  # no Origin header at all
    ],
)
@ws_test
async def test_the_socket_origin_must_be_the_whole_own_origin(
    origin: str | None, accepted: bool
) -> None:
    assert await opens(application, origin) is accepted


@ws_test
async def test_a_host_not_in_allowed_hosts_has_no_own_origin() -> None:
    # DNS rebinding: the attacker's name points at the server; Host and Origin agree.
    assert not await opens(application, "http://evil.example:8000", host="evil.example:8000")


@ws_test
async def test_behind_the_proxy_the_scheme_comes_from_its_header(settings) -> None:
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    host = "chat.example.com"
    assert await opens(application, "https://chat.example.com", host, x_forwarded_proto="https")
    assert not await opens(application, "http://chat.example.com", host, x_forwarded_proto="https")
    assert not await opens(application, "https://chat.example.com", host)


@ws_test
async def test_ws_allowed_origins_admit_the_public_origin_behind_a_proxy() -> None:
    # nginx's `Host $host` drops the port: the page's origin differs from the request's.
    # The browser's stack (the session), behind the Bearer switch (chat/bearer.py).
    inner = protocols.application_mapping["websocket"].browser.application
    app = SiteOriginValidator(inner, ["http://localhost:8080"])
    assert await opens(app, "http://localhost:8080", host="localhost")
    assert not await opens(app, "http://localhost:8081", host="localhost")
    assert not await opens(app, "https://localhost:8080", host="localhost")


# --- Production settings ------------------------------------------------------------------


def production_env() -> dict[str, str]:
    """The README's production environment, placeholders filled in."""
    readme = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"<!-- production-env[^>]*-->\n```sh\n(.*?)```", readme, re.S)
    assert block, "README.md has no production-env block"
    env = dict(line.split("=", 1) for line in block.group(1).splitlines() if line.strip())
    assert env["SECRET_KEY"].startswith("<")
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    return {k: re.sub(r"<[^>]*>", "placeholder", v) for k, v in env.items()}


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},  # nothing else from this machine
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_silent_with_the_documented_production_environment() -> None:
    result = check_deploy(production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_check_deploy_warns_when_a_production_setting_is_missing() -> None:
    env = production_env()
    del env["SECURE_HSTS_SECONDS"]
    result = check_deploy(env)
    assert result.returncode != 0 and "security.W004" in result.stderr + result.stdout
