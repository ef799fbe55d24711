"""Each /v1 request is a conversation of the token's user: the chat page's sidebar
lists them apart ("API conversations"), not among the user's chats."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ChatTab
from tests.e2e.servers import REPO_ROOT

pytestmark = pytest.mark.e2e


def post(url: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_v1_conversations_are_listed_apart(
    new_user: Callable[..., ChatTab], server_env: dict
) -> None:
    """Today: the /v1 request's conversation is in the sidebar with the chats."""
    tab = new_user(username="sidebar-sources")
    token = subprocess.run(
        [sys.executable, "manage.py", "create_api_token", "sidebar-sources"],
        cwd=REPO_ROOT,
        env=server_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    made = post(f"{tab.base_url}/api/conversations/", token, {"title": "Made by a script"})
    # A chat is listed once it has a message: the script sends one (its answer streams).
    ask = urllib.request.Request(
        f"{tab.base_url}/api/conversations/{made['id']}/messages/",
        data=json.dumps({"content": "/echo hello"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(ask, timeout=30) as response:
        assert b"event: end" in response.read()
    body = {"model": "demo-offline", "messages": [{"role": "user", "content": "Through v1"}]}
    post(f"{tab.base_url}/v1/chat/completions", token, body)

    page = tab.page
    page.reload()
    listing = page.locator("#conversation-list")
    expect(listing).to_contain_text("Made by a script")
    expect(listing).not_to_contain_text("Through v1")
    page.get_by_role("link", name="API conversations").click()
    expect(listing).to_contain_text("Through v1")
    expect(listing).not_to_contain_text("Made by a script")
    page.get_by_role("link", name="Your chats").click()
    expect(listing).to_contain_text("Made by a script")
