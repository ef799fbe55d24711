"""Outages answered in each door's own error shape: a request that meets a database
outage gets a 503 with Retry-After, JSON `unavailable` under /api/ and OpenAI's error
object under /v1/, never Django's 500 page or plain text.

The outage is real: on PostgreSQL the connections go through a TCP proxy that drops
them all and refuses new ones (tests/e2e/proxy.py); on SQLite the database's name
points where no file can be opened, so every new connection fails.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import connections
from django.test import AsyncClient

from chat.accounts import api_tokens as tokens
from chat.db import executor
from chat.transports.openai import views as openai_views
from tests.e2e.proxy import CuttableProxy

from .conftest import make_user

pytestmark = [pytest.mark.django_db(transaction=True)]

POOL_TIMEOUT = 1.0  # a borrow from the pool fails fast while the database is down


class DatabaseOutage:
    """Cuts this process's database off with `down()`; `restore()` undoes it all."""

    def __init__(self) -> None:
        self.settings = connections["default"].settings_dict  # shared by every thread's
        self.saved = {key: self.settings[key] for key in ("NAME", "HOST", "PORT")}
        self.pool = dict(self.settings["OPTIONS"].get("pool") or {})
        self.proxy: CuttableProxy | None = None
        self.keeper: sqlite3.Connection | None = None

    @property
    def postgres(self) -> bool:
        return self.settings["ENGINE"].endswith("postgresql")

    async def route(self) -> None:
        """PostgreSQL: every new connection goes through the proxy (not cut yet)."""
        if not self.postgres:
            return
        await close_everywhere()
        self.proxy = CuttableProxy(int(self.settings["PORT"] or 5432))
        self.settings.update(HOST="127.0.0.1", PORT=str(self.proxy.port))
        if self.pool:
            self.settings["OPTIONS"]["pool"] = {**self.pool, "timeout": POOL_TIMEOUT}
            connections["default"].close_pool()  # made again, through the proxy

    async def down(self) -> None:
        if self.proxy is not None:
            self.proxy.pause()
            return
        # SQLite's test database lives in memory while a connection holds it: this one
        # does. Every connection is closed, and opening one fails from now on.
        self.keeper = sqlite3.connect(self.saved["NAME"], uri=True)
        self.settings["NAME"] = str(Path(__file__) / "down.db")  # under a file: never opens
        await close_everywhere()

    async def restore(self) -> None:
        self.settings.update(self.saved)
        if self.proxy is not None:
            self.proxy.resume()
        await close_everywhere()
        if self.pool:
            self.settings["OPTIONS"]["pool"] = self.pool
            connections["default"].close_pool()
        if self.proxy is not None:
            self.proxy.close()
        if self.keeper is not None:
            self.keeper.close()


async def close_everywhere() -> None:
    """Close the connections this context holds on every thread that may hold one: each
    database thread and the thread-sensitive one. (Each sync_to_async call
    copies the connections it opened back into its caller's context, where the
    closing of old connections that database calls do first does not see them.)"""
    workers = executor()._max_workers
    meeting = threading.Barrier(workers)

    def close() -> None:
        connections.close_all()
        meeting.wait(timeout=5)  # each call on its own thread: all of them are reached

    on_each = sync_to_async(close, thread_sensitive=False, executor=executor())
    await asyncio.gather(*(on_each() for _ in range(workers)))
    await sync_to_async(connections.close_all)()


@pytest.fixture
async def outage() -> AsyncIterator[DatabaseOutage]:
    cut = DatabaseOutage()
    await cut.route()
    try:
        yield cut
    finally:
        await cut.restore()


async def new_token() -> str:
    user = await make_user()
    _token, raw = await database_sync_to_async(tokens.token_create)(user=user, name="script")
    return raw


class TokenClient(AsyncClient):
    """Sends `Authorization: Bearer <raw>` with every request; Django's 500 page shows
    as a 500 here, instead of the exception being raised."""

    def __init__(self, raw: str) -> None:
        super().__init__(raise_request_exception=False)
        self.bearer = {"authorization": f"Bearer {raw}"}

    async def generic(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["headers"] = {**self.bearer, **(kwargs.get("headers") or {})}
        return await super().generic(*args, **kwargs)


def assert_unavailable(response: Any) -> dict[str, Any]:
    """503, Retry-After, a JSON body; returns its `error`."""
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return response.json()["error"]


async def test_a_bearer_request_to_the_api_during_a_database_outage_is_a_json_503(
    outage: DatabaseOutage,
) -> None:
    """The token cannot be looked up: the JSON API's own error, `unavailable`, with
    Retry-After (it was Django's 500: the lookup runs above the 503 middleware)."""
    client = TokenClient(await new_token())
    await outage.down()
    for request in (client.get("/api/conversations/"), client.post("/api/conversations/")):
        error = assert_unavailable(await request)
        assert error["code"] == "unavailable" and "database" in error["message"]


async def test_a_bearer_request_to_v1_during_a_database_outage_is_openais_503(
    outage: DatabaseOutage,
) -> None:
    """Under /v1/ the same refusal is OpenAI's error object, which its SDKs read."""
    client = TokenClient(await new_token())
    await outage.down()
    body = {"model": "demo-offline", "messages": [{"role": "user", "content": "Hi"}]}
    for request in (
        client.get("/v1/models"),
        client.post("/v1/chat/completions", body, content_type="application/json"),
    ):
        error = assert_unavailable(await request)
        assert error == {
            "message": error["message"],
            "type": "server_error",
            "param": None,
            "code": "unavailable",
        }
        assert "database" in error["message"]


async def test_a_v1_view_that_meets_the_outage_answers_in_openais_shape(
    outage: DatabaseOutage, monkeypatch: Any
) -> None:
    """The database goes away after the token was read, before the view's first write:
    the 503 from the view is OpenAI's JSON too, not the pages' plain text."""
    release = openai_views.release_request_connection

    async def release_then_cut() -> None:
        await release()
        await outage.down()

    monkeypatch.setattr(openai_views, "release_request_connection", release_then_cut)
    client = TokenClient(await new_token())
    body = {"model": "demo-offline", "messages": [{"role": "user", "content": "Hi"}]}
    response = await client.post("/v1/chat/completions", body, content_type="application/json")
    error = assert_unavailable(response)
    assert (error["type"], error["code"], error["param"]) == ("server_error", "unavailable", None)
