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


class Hops:
    """Counts the thread hops of Django's middleware steps (MiddlewareMixin's own,
    and chat/edge/inline.py's for a step that may write)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from asgiref.sync import sync_to_async
        from django.utils import deprecation

        from chat.edge import inline

        self.mixin: list[str] = []
        self.inline: list[str] = []

        def counting(seen: list[str]) -> Any:
            def wrap(func: Any, **kwargs: Any) -> Any:
                seen.append(getattr(func, "__qualname__", repr(func)))
                return sync_to_async(func, **kwargs)

            return wrap

        monkeypatch.setattr(deprecation, "sync_to_async", counting(self.mixin))
        monkeypatch.setattr(inline, "sync_to_async", counting(self.inline))


# Kept as Django's own classes (their deploy checks look for the dotted paths): their
# steps still hop to the request's thread.
DJANGOS_OWN = {"SecurityMiddleware", "CsrfViewMiddleware", "XFrameOptionsMiddleware"}


def owned_by(hops: list[str]) -> set[str]:
    return {hop.split(".")[0] for hop in hops}


@pytest.mark.django_db(transaction=True)
async def test_a_page_runs_djangos_middleware_on_the_loop(monkeypatch) -> None:
    """The log-in page: a CSRF cookie set, the language and frame headers added, and no
    step of sessions, locale, common, authentication or messages on a thread."""
    hops = Hops(monkeypatch)
    page = await AsyncClient().get("/accounts/login/")
    assert page.status_code == 200
    assert "csrftoken" in page.cookies and page["X-Frame-Options"] == "DENY"
    assert page["Content-Language"] == "en" and "Accept-Language" in page["Vary"]
    assert (owned_by(hops.mixin), hops.inline) == (DJANGOS_OWN, [])


@pytest.mark.django_db(transaction=True)
async def test_a_log_in_saves_its_session_on_the_thread(monkeypatch) -> None:
    """A step that writes (the session a log-in changed) still goes to the thread, and
    the session is saved: the next request is signed in."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model
    from django.db import connections

    await sync_to_async(get_user_model().objects.create_user)("ada", password="a long phrase")
    client = AsyncClient()
    hops = Hops(monkeypatch)
    signed = await client.post("/accounts/login/", {"username": "ada", "password": "a long phrase"})
    assert signed.status_code == 302, signed.content[:300]
    assert owned_by(hops.mixin) == DJANGOS_OWN
    assert hops.inline == ["SessionMiddleware.process_response"]
    me = await client.get("/api/preferences/")
    assert me.status_code == 200, me.content[:300]
    await sync_to_async(connections.close_all)()  # the view's, on the test's own thread
