"""The HTTP APIs as their users use them, against real Daphne processes over Redis:
`curl -N` through Debian's nginx running deploy/nginx.conf, a Python script reading
server-sent events, the official `openai` client and LangChain's ChatOpenAI on
`/v1`, and staff finding those conversations in the admin (a real Chromium)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import httpx
import openai
import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.api_client import (
    ApiUser,
    api_user,
    chunk_text,
    manage_output,
    new_conversation,
    saved_messages,
    sse_events,
)
from tests.e2e.servers import Server
from tests.e2e.topology import NginxPorts, nginx_binary, start_nginx
from tests.support.waiting import wait_for_sync

pytestmark = pytest.mark.e2e

# The end of a sentence in the demo model's English and Japanese text (chat/chunking.py).
# A terminator may be followed by closing brackets and quotes.
SENTENCE_END = re.compile(r"([.!?。！？][)\]）」』\"']*\s*|\n)$")


@pytest.fixture(scope="module")
def proxy_url(server: Server, server2: Server, tmp_path_factory: pytest.TempPathFactory):
    """nginx with deploy/nginx.conf in front of both processes."""
    if nginx_binary() is None:
        pytest.fail("nginx is not installed (Debian's package: apt-get install nginx)")
    listen = NginxPorts()
    process = start_nginx(tmp_path_factory.mktemp("nginx"), [server.port, server2.port], listen)
    yield f"http://127.0.0.1:{listen.http}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def user(server_env: dict) -> ApiUser:
    return api_user(server_env)


def curl_stream(url: str, user: ApiUser, body: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *("curl", "-N", "-sS", "-X", "POST", url),
            *("-H", f"Authorization: Bearer {user.token}"),
            *("-H", "Content-Type: application/json", "--data-binary", body),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_curl_streams_sentence_by_sentence_through_nginx(proxy_url: str, user: ApiUser) -> None:
    """Each sentence arrives while the answer is still being written (nothing buffers
    it on the way), and the sentences joined are the saved answer."""
    conversation = new_conversation(proxy_url, user)
    url = f"{proxy_url}/api/conversations/{conversation}/messages/"
    curl = curl_stream(url, user, '{"content": "Read me a story", "chunk": "sentence"}')
    assert curl.stdout is not None
    events = sse_events(curl.stdout)
    seen = [next(events), next(events), next(events)]
    assert [e["event"] for e in seen] == ["message", "start", "chunk"]
    # The first sentence is here: the answer is still streaming in the database.
    assert saved_messages(proxy_url, user, conversation)[-1]["status"] == "streaming"
    seen.extend(events)
    assert curl.wait(timeout=30) == 0
    assert seen[-1]["event"] == "end" and seen[-1]["data"]["status"] == "complete"
    chunks = [e["data"]["text"] for e in seen if e["event"] == "chunk"]
    assert len(chunks) > 3
    assert all(SENTENCE_END.search(chunk) for chunk in chunks[:-1]), chunks
    answer = saved_messages(proxy_url, user, conversation)[-1]
    assert "".join(chunks) == answer["content"]
    assert seen[-1]["id"] == f"{answer['id']}:{len(answer['content'])}"


def test_a_script_resumes_with_last_event_id_and_another_process_follows(
    proxy_url: str, server: Server, server2: Server, user: ApiUser
) -> None:
    """A script's connection drops mid-answer: it resumes where it was, through nginx
    (whichever process that reaches), while a follower on the other process joined
    mid-answer; each ends with exactly the saved text."""
    conversation = new_conversation(server.url, user)
    url = f"{server.url}/api/conversations/{conversation}/messages/"
    body = {"content": "Stream in lines", "chunk": "line"}
    with httpx.Client(headers=user.headers, timeout=30) as client:
        with client.stream("POST", url, json=body) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            got = []
            for event in sse_events(response.iter_lines()):
                got.append(event)
                if event["event"] == "chunk":
                    break  # the connection drops after the first line
        follow_url = f"{server2.url}/api/conversations/{conversation}/stream/?chunk=token"
        resume_url = f"{proxy_url}/api/conversations/{conversation}/stream/?chunk=line"
        with client.stream("GET", follow_url) as follower:
            headers = {"Last-Event-ID": got[-1]["id"]}
            with client.stream("GET", resume_url, headers=headers) as resumed:
                rest = list(sse_events(resumed.iter_lines()))
            followed = list(sse_events(follower.iter_lines()))
    answer = saved_messages(server.url, user, conversation)[-1]
    assert rest[0]["event"] == "start" and rest[-1]["event"] == "end"
    assert chunk_text(got) + chunk_text(rest) == answer["content"]
    assert followed[0]["event"] == "start" and followed[-1]["event"] == "end"
    assert chunk_text(followed) == answer["content"]


@pytest.fixture
def v1(server: Server, user: ApiUser) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=user.token, max_retries=0)
    yield client
    client.close()


def _model(v1: openai.OpenAI) -> str:
    return v1.models.list().data[0].id


def test_openai_client_and_chatopenai_are_answered_saved_and_reviewed(
    v1: openai.OpenAI, server: Server, server_env: dict, browser
) -> None:
    model = _model(v1)
    whole = v1.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Whole please"},
        ],
    )
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage is not None and whole.usage.completion_tokens > 0
    text = whole.choices[0].message.content
    assert text and "Whole please" in text

    stream = v1.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Stream please" in streamed
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0

    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{server.url}/v1", api_key=v1.api_key, model=model)
    reply = chat.invoke("LangChain says hello")
    assert "LangChain says hello" in reply.content

    # Staff find all three in the admin, with the answers' text.
    staff = api_user(server_env, staff=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/admin/login/")
        page.fill("#id_username", staff.username)
        page.fill("#id_password", f"pass-{staff.username}")
        page.click("input[type=submit]")
        page.goto(f"{server.url}/admin/chat/conversation/?source__exact=openai")
        for title in ("Whole please", "Stream please", "LangChain says hello"):
            link = page.locator("#result_list a", has_text=title).first
            expect(link).to_be_visible()
        page.locator("#result_list a", has_text="Stream please").first.click()
        expect(page.locator("body")).to_contain_text(streamed[:60])
    finally:
        context.close()


def test_a_client_that_leaves_mid_stream_stops_the_answer(
    v1: openai.OpenAI, server: Server, user: ApiUser
) -> None:
    stream = v1.chat.completions.create(
        model=_model(v1), messages=[{"role": "user", "content": "Leave me"}], stream=True
    )
    for count, _ in enumerate(stream):
        if count == 3:
            break
    conversation = stream.response.headers["x-conversation-id"]
    stream.close()

    def stopped() -> dict | None:
        answer = saved_messages(server.url, user, conversation)[-1]
        return answer if answer["status"] != "streaming" else None

    answer = wait_for_sync(stopped, timeout=15, what="the answer to end")
    assert answer["status"] == "stopped"
    # Stopped well before the demo model's full answer (about 280 characters).
    assert 0 < len(answer["content"]) < 200


def test_tokens_are_refused_once_revoked_and_never_reach_another_user(
    server: Server, server_env: dict, user: ApiUser
) -> None:
    other = api_user(server_env)
    theirs = new_conversation(server.url, other)
    for path in (f"/api/conversations/{theirs}/stream/", f"/api/conversations/{theirs}/"):
        assert httpx.get(f"{server.url}{path}", headers=user.headers).status_code == 404
    url = f"{server.url}/api/conversations/{theirs}/messages/"
    refused = httpx.post(url, json={"content": "hi"}, headers=user.headers)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    code = (
        "from chat.models import ApiToken; from chat.accounts import api_tokens as tokens; "
        f"mine = ApiToken.objects.filter(user__username={other.username!r}); "
        "[tokens.token_revoke(token=t) for t in mine]"
    )
    manage_output(server_env, "shell", "-c", code)
    response = httpx.get(f"{server.url}/v1/models", headers=other.headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert httpx.post(url, json={"content": "hi"}, headers=other.headers).status_code == 401
