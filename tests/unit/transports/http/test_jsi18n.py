"""The scripts' catalogue (/jsi18n/, chat/transports/http/jsi18n.py): the language the
request asks for, from locale/ja/LC_MESSAGES/djangojs.mo, and an ETag per language.
No database: the view reads none."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

# Today, Connected, New chat, as the catalogue writes them (JSON, \u escapes).
JAPANESE = [json.dumps(word)[1:-1] for word in ["今日", "接続済み", "新しいチャット"]]


@pytest.fixture
def url() -> str:
    return reverse("chat:jsi18n")


def test_japanese_is_served_to_a_browser_that_asks_for_it(client: Any, url: str) -> None:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="ja,en;q=0.5")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    for word in JAPANESE:
        assert word in body
    assert "django.gettext" in body and "django.interpolate" in body


def test_english_has_no_japanese(client: Any, url: str) -> None:
    body = client.get(url, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "django.gettext" in body
    assert not any(word in body for word in JAPANESE)


def test_the_etag_names_the_language_so_a_switch_is_never_served_stale(
    client: Any, url: str
) -> None:
    ja = client.get(url, HTTP_ACCEPT_LANGUAGE="ja")
    en = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert ja["ETag"] != en["ETag"]
    assert "no-cache" in ja["Cache-Control"]
    assert "Accept-Language" in ja["Vary"]
    again = client.get(url, HTTP_ACCEPT_LANGUAGE="ja", HTTP_IF_NONE_MATCH=ja["ETag"])
    assert again.status_code == 304
    switched = client.get(url, HTTP_ACCEPT_LANGUAGE="en", HTTP_IF_NONE_MATCH=ja["ETag"])
    assert switched.status_code == 200
