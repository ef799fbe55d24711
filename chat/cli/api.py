"""The server's HTTP API as the terminal client uses it: conversations, and an answer
streamed as server-sent events, resumed after a dropped connection from the last
event id (docs/DESIGN.md, "HTTP streaming")."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from chat.cli.events import Progress, parse_events

RESUME_ATTEMPTS = 8  # reconnects in a row without news before giving up
READ_TIMEOUT = 60.0  # the server sends a keep-alive every 15 s


class CliError(Exception):
    """A failure to tell the user in one line (exit status in `status`)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def refusal_line(response: httpx.Response) -> str:
    """The server's refusal as one line: its message, code and when to retry."""
    try:
        error = response.json()["error"]
        line = f"{error['message']} ({error['code']}, HTTP {response.status_code})"
    except (ValueError, KeyError, TypeError):
        line = f"the server answered HTTP {response.status_code}"
    if retry := response.headers.get("Retry-After"):
        line += f"; retry after {retry} s"
    return line


class ApiClient:
    def __init__(self, url: str, token: str, *, notice: Callable[[str], None]) -> None:
        self.url = url.rstrip("/")
        self.notice = notice
        headers = {"Authorization": f"Bearer {token}"}
        timeout = httpx.Timeout(READ_TIMEOUT, connect=10.0)
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach {self.url}: {exc or type(exc).__name__}", 2) from None
        if response.status_code >= 400:
            raise CliError(refusal_line(response))
        return response.json()

    def conversations(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/conversations/")["conversations"])

    def new_conversation(self, title: str = "") -> dict[str, Any]:
        return dict(self._call("POST", "/api/conversations/", json={"title": title}))

    def ask(self, conversation_id: str, content: str, chunk: str) -> Iterator[str]:
        """Send a message; the answer's chunks as they come, resumed (never repeated)
        after a dropped connection. Ends with the answer, or raises CliError.

        The message carries a `client_id`: when the connection drops before the
        server's answer started, it is sent again, and a server that had it already
        says so (409, `sent`): that message's answer is then followed from its start
        instead of a second one asked for."""
        progress = Progress()
        body = {"content": content, "chunk": chunk, "client_id": uuid.uuid4().hex}
        for attempt in (1, 2):
            try:
                yield from self._post(conversation_id, body, progress, again=attempt > 1)
                break
            except httpx.TransportError as exc:
                if progress.last_id is not None:
                    break  # the answer started: resumed below
                if isinstance(exc, httpx.ConnectError) and attempt == 1:  # nothing was sent
                    raise CliError(f"cannot reach {self.url}: {exc}", 2) from None
                if attempt == 2:
                    raise CliError(f"lost the connection to {self.url}: {exc}", 2) from None
                self.notice("connection lost before the answer started; sending again")
        yield from self._resume(conversation_id, chunk, progress)
        _finish(progress)

    def _post(
        self, conversation_id: str, body: dict[str, str], progress: Progress, *, again: bool
    ) -> Iterator[str]:
        path = f"/api/conversations/{conversation_id}/messages/"
        with self.http.stream("POST", path, json=body) as response:
            if response.status_code >= 400:
                response.read()
                answer_id = self._answer_to(conversation_id, response) if again else None
                if answer_id is None:
                    raise CliError(refusal_line(response))
                progress.last_id = f"{answer_id}:0"  # the server had it: follow its answer
                return
            progress.last_id = f"{response.headers.get('X-Message-Id', '')}:0"
            yield from _chunks(response, progress)

    def _answer_to(self, conversation_id: str, refused: httpx.Response) -> str | None:
        """The answer to the message a 409 `sent` names (sent before), or None."""
        try:
            sent = refused.json()["error"]["sent"]["id"]
        except (ValueError, KeyError, TypeError):
            return None
        messages = self._call("GET", f"/api/conversations/{conversation_id}/")["messages"]
        answers = [m["id"] for m in messages if m.get("parent_id") == sent]
        return str(answers[0]) if answers else None

    def _resume(self, conversation_id: str, chunk: str, progress: Progress) -> Iterator[str]:
        """Follow the answer again from `progress.last_id` until its end."""
        path = f"/api/conversations/{conversation_id}/stream/"
        failures = 0
        while not progress.ended:
            if failures >= RESUME_ATTEMPTS:
                raise CliError(f"lost the connection to {self.url} and could not resume", 2)
            self.notice(f"connection lost; resuming from {progress.last_id}")
            time.sleep(min(0.2 * 2**failures, 5.0))
            seen = progress.last_id
            headers = {"Last-Event-ID": str(progress.last_id)}
            try:
                with self.http.stream("GET", path, params={"chunk": chunk}, headers=headers) as rsp:
                    if rsp.status_code >= 400:
                        rsp.read()
                        raise CliError(refusal_line(rsp))
                    yield from _chunks(rsp, progress)
            except httpx.TransportError:
                pass
            failures = 0 if progress.last_id != seen else failures + 1


def _chunks(response: httpx.Response, progress: Progress) -> Iterator[str]:
    for event in parse_events(response.iter_lines()):
        text = progress.take(event)
        if text:
            yield text
        if progress.ended:
            return


def _finish(progress: Progress) -> None:
    if progress.error is not None:
        error = progress.error
        raise CliError(f"the answer failed: {error.get('message')} ({error.get('code')})")
    if progress.status != "complete":
        raise CliError(f"the answer ended {progress.status}")
