"""Django runs the middleware as one async chain: no request holds the process's one
thread-sensitive thread while an async view (SSE, /v1) waits (docs/performance.md,
issue #13), and static files are still served from it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient

ADAPTED = "Asynchronous handler adapted for middleware"


class SyncOnlyMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)


def chain_adaptations(settings: Any, caplog: pytest.LogCaptureFixture) -> list[str]:
    settings.DEBUG = True  # Django logs its adaptations only then
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        ASGIHandler()
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(ADAPTED)]


def test_every_middleware_runs_in_the_async_chain(settings, caplog) -> None:
    assert chain_adaptations(settings, caplog) == []


def test_a_sync_only_middleware_would_be_seen(settings, caplog) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.SyncOnlyMiddleware"]
    assert chain_adaptations(settings, caplog) == [f"{ADAPTED} {__name__}.SyncOnlyMiddleware."]


@pytest.mark.django_db
async def test_static_files_are_served_from_the_async_chain(settings) -> None:
    settings.WHITENOISE_USE_FINDERS = True  # serve /static/ from the source tree
    client = AsyncClient()
    icon = await client.get("/static/favicon.svg")
    assert icon.status_code == 200
    assert icon["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(icon.streaming_content)
    missing = await client.get("/static/no-such-file.js")
    assert missing.status_code == 404
