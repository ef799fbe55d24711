"""What a script does with the HTTP APIs: a user and a personal API token minted with
`manage.py create_api_token`, server-sent events read line by line, the JSON API."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e.servers import REPO_ROOT


def manage_output(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """A manage.py command's standard output; a failure fails the test."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"manage.py {args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@dataclass
class ApiUser:
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def api_user(server_env: dict[str, str], *, staff: bool = False) -> ApiUser:
    """A new user (a superuser if `staff`, password "pass-<username>") and a token."""
    username = f"api-{uuid.uuid4().hex[:8]}"
    make = "create_superuser" if staff else "create_user"
    code = (
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.{make}({username!r}, password='pass-{username}')"
    )
    manage_output(server_env, "shell", "-c", code)
    output = manage_output(server_env, "create_api_token", username, "--name", "e2e")
    return ApiUser(username, output.strip().splitlines()[-1])


def new_conversation(base_url: str, user: ApiUser) -> str:
    response = httpx.post(f"{base_url}/api/conversations/", json={}, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def session_conversation(client: httpx.Client, base_url: str) -> str:
    """A new conversation, created as the chat page does: a signed-in session's client
    (its CSRF cookie sent back as the header)."""
    created = client.post(
        "/api/conversations/",
        json={"title": ""},
        headers={"X-CSRFToken": client.cookies["csrftoken"], "Referer": f"{base_url}/"},
    )
    created.raise_for_status()
    return str(created.json()["id"])


def saved_messages(base_url: str, user: ApiUser, conversation_id: str) -> list[dict[str, Any]]:
    url = f"{base_url}/api/conversations/{conversation_id}/"
    response = httpx.get(url, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def sse_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Server-sent events as {"id", "event", "data"} (data parsed as JSON); comments
    (keep-alives) skipped."""
    event: dict[str, Any] = {}
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            event[name] = json.loads(value) if name == "data" else value


def chunk_text(events: Iterable[dict[str, Any]]) -> str:
    return "".join(e["data"]["text"] for e in events if e["event"] == "chunk")
