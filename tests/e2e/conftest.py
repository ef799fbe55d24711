"""End-to-end fixtures: real Daphne servers, a real Redis layer, a real Chromium.

The servers under test are separate processes with their own database (a fresh
`<dbname>_e2e` PostgreSQL database when DATABASE_URL is set, else a temporary SQLite
file), so the tests never touch the Django test database: they read the database's
truth through the JSON API from inside a logged-in page.

Chromium: /usr/bin/chromium, or CHROMIUM_PATH. Without it (or without the playwright
package) the e2e tests are skipped with the reason, except under CI=true, where the
run fails: CI installs both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.e2e.servers import RUNNING_SERVERS, Server, manage, start_server
from tests.support import workers

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.e2e.helpers import ChatTab

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() == "true"


def chromium_path() -> str:
    return os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"


def browser_missing_reason() -> str | None:
    """Why the e2e tests cannot run here, or None."""
    path = chromium_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return f"Chromium not found at {path} (install chromium or set CHROMIUM_PATH)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    return None


def pytest_configure(config: pytest.Config) -> None:
    # Without playwright the test modules skip themselves at import (importorskip),
    # before any hook below sees their tests: in CI that must fail the run instead.
    reason = browser_missing_reason()
    if IN_CI and reason and "playwright" in reason:
        raise pytest.UsageError(f"CI=true but the e2e tests cannot run: {reason}.")


@pytest.hookimpl(trylast=True)  # after pytest-django has ordered the tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    e2e_items = [item for item in items if item.get_closest_marker("e2e")]
    if not e2e_items:
        return
    # The browser tests go last: Playwright's sync API keeps an event loop running in
    # the main thread for the rest of the session, and pytest-asyncio cannot start a
    # test's loop after that ("Runner.run() cannot be called from a running event loop").
    items[:] = [item for item in items if item not in e2e_items] + e2e_items
    reason = browser_missing_reason()
    if reason is None:
        return
    if IN_CI:
        raise pytest.UsageError(f"CI=true but the e2e tests cannot run: {reason}.")
    skip = pytest.mark.skip(reason=f"e2e tests skipped: {reason}")
    for item in e2e_items:
        item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the servers' log tails to a failed e2e test's report."""
    report = yield
    if report.failed and item.get_closest_marker("e2e"):
        for server in RUNNING_SERVERS:
            report.sections.append((f"{server.name} log (tail)", server.log_tail()))
    return report


# --- Servers ---------------------------------------------------------------------------


def _pg_admin(database_url: str, database: str, sql: str) -> None:
    """Run one statement (autocommit) against `database` on the server of database_url."""
    import psycopg

    parts = urlsplit(database_url)
    admin_url = urlunsplit(parts._replace(path=f"/{database}"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def server_env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The environment of the servers under test, with a migrated database of their own."""
    workdir = tmp_path_factory.mktemp("e2e-servers")
    env = dict(os.environ)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SQLITE_PATH"):
        env.pop(name, None)
    env.update(
        DEBUG="1",
        SECRET_KEY="e2e-test-secret-key-not-for-production",
        REDIS_URL=redis_url,
        DEMO_TOKEN_DELAY_MS="30",
        CHAT_RATE_LIMIT_PER_MINUTE="1000",
        CHAT_MAX_ACTIVE_ANSWERS_PER_USER="10",  # a test's tabs answer at once
        SIGNUP_RATE_LIMIT="1000",  # every browser test signs up from 127.0.0.1
        ALLOW_PUBLIC_SHARES="1",  # test_shares.py opens a link signed out
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        MEDIA_ROOT=str(workdir / "media"),  # attached files (test_attachments.py reads it)
    )
    base_url = os.environ.get("DATABASE_URL", "")
    drop: Callable[[], None] | None = None
    if base_url:
        from psycopg import sql

        parts = urlsplit(base_url)
        base_name = parts.path.lstrip("/") or "postgres"
        e2e_name = f"{base_name}_e2e{workers.suffix()}"
        ident = sql.Identifier(e2e_name).as_string()
        # Connect to the maintenance database: the server's own may be the one dropped.
        _pg_admin(base_url, "postgres", f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)")
        _pg_admin(base_url, "postgres", f"CREATE DATABASE {ident}")
        env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{e2e_name}"))

        def drop() -> None:
            _pg_admin(base_url, "postgres", f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)")

    else:
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(workdir / "e2e.sqlite3")
    manage(env, "migrate", "--noinput")
    env["E2E_WORKDIR"] = str(workdir)
    yield env
    if drop is not None:
        try:
            drop()
        except Exception as exc:  # best effort: the next run drops it first anyway
            print(f"could not drop the e2e database: {exc}")


def _serve(name: str, server_env: dict) -> Iterator[Server]:
    server = start_server(name, server_env, Path(server_env["E2E_WORKDIR"]))
    try:
        yield server
    finally:
        server.stop()
        RUNNING_SERVERS.remove(server)


@pytest.fixture(scope="session")
def server(server_env: dict) -> Iterator[Server]:
    """Daphne process 1 (real Redis channel layer, its own database)."""
    yield from _serve("server-1", server_env)


@pytest.fixture(scope="session")
def server2(server: Server, server_env: dict) -> Iterator[Server]:
    """Daphne process 2: same database and Redis as `server`; started when first needed."""
    yield from _serve("server-2", server_env)


@pytest.fixture(autouse=True)
def _servers_stay_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """An e2e test fails, with the log, if a server process died during it."""
    yield
    if request.node.get_closest_marker("e2e"):
        for server in list(RUNNING_SERVERS):
            server.check_alive()


# --- The browser -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def new_user(browser: Browser, server: Server) -> Iterator[Callable[..., ChatTab]]:
    """Factory: a new browser context with a freshly signed-up user, on the chat page.

    `new_user(**context_options)` returns a ChatTab (page + recorded WebSocket frames);
    `tab.open_tab()` opens another tab of the same user (same context, same cookies).
    Every context is closed after the test.
    """
    from tests.e2e.helpers import ChatTab, sign_up

    contexts: list[Any] = []

    def make(
        *,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        **options: Any,
    ):
        # en-US: the page formats numbers with toLocaleString ("8,000").
        defaults = {"viewport": {"width": 1280, "height": 800}, "locale": "en-US"}
        context = browser.new_context(**{**defaults, **options})
        context.set_default_timeout(15_000)
        contexts.append(context)
        tab = ChatTab(context.new_page(), base_url or server.url)
        sign_up(tab.page, tab.base_url, username=username, password=password)
        return tab

    yield make
    for context in contexts:
        context.close()
