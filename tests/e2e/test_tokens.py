"""The API token page in a real Chromium, and the token it shows used by a script
(plain HTTP and a WebSocket with no Origin) against the real Daphne server."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.helpers import ChatTab

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]


def api(base_url: str, raw: str, path: str, body: dict | None = None) -> tuple[int, Any]:
    """A script's request: the token, no cookie."""
    request = urllib.request.Request(
        f"{base_url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_create_see_once_use_and_revoke_a_token(new_user: NewUser) -> None:
    """A token made on the page (after the password is confirmed again, with its
    default 90-day expiry) is shown once (and copied), is listed by its prefix
    afterwards (a reload mints no second one), works for a script over HTTP and
    WebSocket, and revoking it on the page (after a confirmation page) refuses the
    next request and closes the script's open socket (4401)."""
    password = "Pw-e2e-tokens-123"
    tab = new_user(password=password, permissions=["clipboard-read", "clipboard-write"])
    page = tab.page
    page.get_by_role("link", name="API tokens").click()
    page.wait_for_url(re.compile(r"/settings/tokens/$"))
    expect(page.locator(".settings-empty")).to_be_visible()

    page.fill("#id_name", "my script")
    expect(page.locator("#id_expires")).to_have_value("90")
    page.fill("#id_password", "not my password")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator(".field.has-errors")).to_contain_text("That is not your password.")
    expect(page.locator("#token-created")).to_have_count(0)
    page.fill("#id_name", "my script")
    page.fill("#id_password", password)
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-created")).to_contain_text("will not be shown again")
    expect(page.locator("#id_password")).to_have_count(0)  # sudo mode: not asked again
    raw = page.locator("#new-token").inner_text().strip()
    assert re.fullmatch(r"chat_[A-Za-z0-9_-]{43}", raw)
    page.locator("#copy-token").click()
    expect(page.locator("#copy-token")).to_have_attribute("data-copied", "yes")
    assert page.evaluate("navigator.clipboard.readText()") == raw

    page.reload()  # post/redirect/get: a reload shows the list, mints nothing
    expect(page.locator("#token-created")).to_have_count(0)  # shown once
    assert raw not in page.content()
    expect(page.locator(".token-row")).to_have_count(1)
    row = page.locator(".token-row", has_text="my script")
    expect(row).to_contain_text(raw[:12] + "…")
    expect(row.locator(".token-status")).to_have_text("active")
    expect(row.locator(".token-access")).to_have_text("full access")
    expect(row.locator(".token-expires")).not_to_have_text("never")

    status, created = api(tab.base_url, raw, "/api/conversations/", {"title": "from a script"})
    assert status == 201
    status, listed = api(tab.base_url, raw, "/api/conversations/")
    assert status == 200 and [c["title"] for c in listed["conversations"]] == ["from a script"]

    ws_url = tab.base_url.replace("http://", "ws://") + f"/ws/chat/{created['id']}/"
    with connect(ws_url, additional_headers={"Authorization": f"Bearer {raw}"}) as socket:
        history = json.loads(socket.recv(timeout=10))
        assert history["type"] == "history"
        assert history["conversation"]["title"] == "from a script"
        page.reload()  # its last use: time and address
        expect(row.locator(".token-last-used")).to_contain_text("from 127.0.0.1")

        row.get_by_role("link", name="Revoke the token my script").click()
        page.wait_for_url(re.compile(r"/revoke/$"))  # asks first; Cancel would change nothing
        expect(page.get_by_role("heading")).to_contain_text("Revoke the token “my script”?")
        page.get_by_role("button", name="Revoke token").click()
        page.wait_for_url(re.compile(r"/settings/tokens/$"))
        row = page.locator(".token-row", has_text="my script")
        expect(row).to_have_class(re.compile(r"\bis-revoked\b"))
        expect(row.locator(".token-status")).to_contain_text("revoked")
        expect(row.get_by_role("link", name="Revoke the token my script")).to_have_count(0)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    status, body = api(tab.base_url, raw, "/api/conversations/")
    assert status == 401 and body["error"]["code"] == "not_authenticated"


def test_a_read_only_token_made_on_the_page_changes_nothing(new_user: NewUser) -> None:
    """A read-only, never-expiring token lists conversations but cannot create one."""
    password = "Pw-e2e-reader-123"
    tab = new_user(password=password)
    page = tab.page
    page.goto(f"{tab.base_url}/settings/tokens/")
    page.fill("#id_name", "reader")
    page.get_by_label("read only").check()
    page.select_option("#id_expires", "never")
    page.fill("#id_password", password)
    page.get_by_role("button", name="Create token").click()
    raw = page.locator("#new-token").inner_text().strip()
    row = page.locator(".token-row", has_text="reader")
    expect(row.locator(".token-access")).to_have_text("read only")
    expect(row.locator(".token-expires")).to_have_text("never")
    assert api(tab.base_url, raw, "/api/conversations/") == (200, {"conversations": []})
    status, body = api(tab.base_url, raw, "/api/conversations/", {"title": "no"})
    assert status == 403 and body["error"]["code"] == "not_allowed"
