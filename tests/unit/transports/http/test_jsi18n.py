"""The scripts' catalogue (/jsi18n/, chat/transports/http/jsi18n.py): the language the
request asks for, from locale/ja/LC_MESSAGES/djangojs.mo, and an ETag per language.
The view behind LocaleMiddleware, called synchronously (no database, no test client's
event loop), so these run on any worker."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.test import RequestFactory
from django.urls import resolve, reverse

from chat.transports.http.jsi18n import javascript_catalog

# Today, Connected, New chat, as the catalogue writes them (JSON, \u escapes).
JAPANESE = [json.dumps(word)[1:-1] for word in ["今日", "接続済み", "新しいチャット"]]


def get(accept_language: str, **headers: Any) -> HttpResponse:
    url = reverse("chat:jsi18n")
    assert resolve(url).func is javascript_catalog
    request = RequestFactory().get(url, HTTP_ACCEPT_LANGUAGE=accept_language, **headers)
    return LocaleMiddleware(javascript_catalog)(request)


def test_japanese_is_served_to_a_browser_that_asks_for_it() -> None:
    response = get("ja,en;q=0.5")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    for word in JAPANESE:
        assert word in body
    assert "django.gettext" in body and "django.interpolate" in body


@pytest.mark.parametrize("accept_language", ["en-US,en;q=0.9", "fr", ""])
def test_english_has_no_japanese(accept_language: str) -> None:
    body = get(accept_language).content.decode()
    assert "django.gettext" in body
    assert not any(word in body for word in JAPANESE)


def test_the_etag_names_the_language_so_a_switch_is_never_served_stale() -> None:
    ja = get("ja")
    en = get("en")
    assert ja["ETag"] != en["ETag"]
    assert "no-cache" in ja["Cache-Control"]
    assert "Accept-Language" in ja["Vary"]
    assert get("ja", HTTP_IF_NONE_MATCH=ja["ETag"]).status_code == 304
    assert get("en", HTTP_IF_NONE_MATCH=ja["ETag"]).status_code == 200
