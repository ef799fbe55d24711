"""The Slack bot end to end: signed Events API requests through Django's async client,
answers streamed by the loopback model server over the real channel layer (both
channels_redis layers) and PostgreSQL, posted by slack_sdk's AsyncWebClient to a
Slack-API-compatible server on loopback that records every call."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from chat.models import Message, SlackThread, SlackUser
from chat.slack import services
from chat.streaming.answer.registry import stop_here
from chat.transports.slack import answer, posting
from tests.support.openai_stub import OpenAIStub, Reply, last_question
from tests.support.slack_api import SlackAPI
from tests.support.waiting import wait_for, wait_for_sync

from .conftest import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

SECRET = "slack-signing-secret-for-tests"
LINES = ["First line.\n", "Second line.\n", "Third line.\n", "Fourth line."]


@pytest.fixture
def api() -> Iterator[SlackAPI]:
    with SlackAPI() as server:
        yield server


@pytest.fixture
async def slack(
    settings: Any, redis_layer: Any, stub: OpenAIStub, api: SlackAPI
) -> AsyncIterator[SlackAPI]:
    """The bot on, its Web API calls to the loopback server; answers posted afterwards."""
    settings.SLACK_BOT_TOKEN = "xoxb-test-not-real"
    settings.SLACK_SIGNING_SECRET = SECRET
    settings.SLACK_API_URL = api.url
    settings.SLACK_SERVICE_USER = f"slack-{uuid.uuid4().hex[:6]}"
    settings.SLACK_CHUNK = "line"
    settings.SLACK_POSTS_PER_SECOND = 50
    posting._paces.clear()
    yield api
    await answer.answers_done(timeout=20)


def signed(body: bytes, *, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    """The headers Slack sends: its timestamp and v0 signature of the body."""
    timestamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest.hexdigest()}"}


def mention(
    text: str = "<@UBOT> say four lines",
    *,
    user: str = "U1",
    channel: str = "C1",
    ts: str | None = None,
    thread_ts: str | None = None,
    event_id: str | None = None,
    kind: str = "app_mention",
) -> dict[str, Any]:
    event = {"type": kind, "user": user, "text": text, "channel": channel}
    event["ts"] = ts or f"{time.time():.6f}"
    if thread_ts:
        event["thread_ts"] = thread_ts
    if kind == "message":
        event["channel_type"] = "im"
    return {
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
        "event": event,
    }


async def send(envelope: dict[str, Any], headers: dict[str, str] | None = None, **sign: Any) -> Any:
    body = json.dumps(envelope).encode()
    signature = signed(body, **sign)
    return await AsyncClient().post(
        "/slack/events",
        data=body,
        content_type="application/json",
        headers={**signature, **(headers or {})},
    )


@database_sync_to_async
def messages() -> list[Message]:
    return list(Message.objects.order_by("created"))


@database_sync_to_async
def thread_answers(channel: str, thread_ts: str) -> tuple[Any, list[Message]]:
    thread = SlackThread.objects.select_related("conversation__owner").get(
        channel=channel, thread_ts=thread_ts
    )
    found = Message.objects.filter(conversation=thread.conversation, role="assistant")
    return thread.conversation.owner, list(found.order_by("created"))


def joined(posts: list[str]) -> str:
    return "\n".join(posts)


async def test_a_signed_mention_is_answered_in_its_thread_one_post_per_line(
    slack: SlackAPI, stub: OpenAIStub
) -> None:
    """A mention outside a thread starts one on it: one post per line, in order."""
    stub.replies.append(Reply(deltas=LINES, delay=0.3))
    envelope = mention()
    response = await send(envelope)
    assert response.status_code == 200 and response.json() == {"ok": True}
    ts = envelope["event"]["ts"]
    await wait_for(lambda: len(slack.posts(ts)) == 4, 20, what="four posts")
    assert slack.posts(ts) == [line.strip() for line in LINES]
    call = slack.calls[0]
    assert call.body["channel"] == "C1" and call.body["thread_ts"] == ts
    assert call.headers["Authorization"] == "Bearer xoxb-test-not-real"
    owner, answers = await thread_answers("C1", ts)
    assert owner.username.startswith("slack-")  # unmapped: the service user
    assert [a.content for a in answers] == ["".join(LINES)]
    assert stub.requests[-1]["messages"][-1]["content"] == "say four lines"


async def test_chunks_faster_than_the_rate_are_merged_into_fewer_posts_in_order(
    slack: SlackAPI, stub: OpenAIStub, settings: Any
) -> None:
    """At one post per second, lines that come faster (one per 0.1 s: each its own
    post without the limit) go out merged, in order, nothing lost."""
    settings.SLACK_POSTS_PER_SECOND = 1
    lines = [f"Line {n}.\n" for n in range(1, 7)]
    stub.replies.append(Reply(deltas=lines, delay=0.1))
    envelope = mention()
    await send(envelope)
    ts = envelope["event"]["ts"]
    full = "".join(lines).strip()
    await wait_for(lambda: joined(slack.posts(ts)) == full, 20, what="the whole answer")
    assert slack.posts(ts)[0] == "Line 1."
    assert 2 <= len(slack.posts(ts)) < len(lines)


@pytest.mark.parametrize(
    "sign",
    [{"secret": "not-the-secret"}, {"at": int(time.time()) - 6 * 60}],
    ids=["bad signature", "old timestamp"],
)
async def test_an_unverified_request_starts_nothing(slack: SlackAPI, sign: dict[str, Any]) -> None:
    response = await send(mention(), **sign)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    await answer.answers_done(timeout=5)
    assert await messages() == [] and slack.calls == []


async def test_a_retried_or_repeated_event_starts_no_second_answer(
    slack: SlackAPI, stub: OpenAIStub
) -> None:
    """Slack's retry of an event, and a second event for the same message (the
    mention that is also a DM), are acknowledged and start nothing."""
    stub.replies.append(Reply(deltas=["Only once."]))
    first = mention()
    await send(first)
    retry = await send(first, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    again = {**first, "event_id": "EvOther"}
    assert (await send(again)).status_code == 200
    await answer.answers_done(timeout=20)
    assert len(await messages()) == 2  # one question, one answer
    assert slack.posts() == ["Only once."]


def asked(stub: OpenAIStub, words: str) -> bool:
    """Whether the model has been asked `words` (the stub records every request)."""
    return any(words in last_question(body) for body in list(stub.requests))


def hold_thread(monkeypatch: Any, channel: str, until: Callable[[], bool]) -> None:
    """Hold the start of the answer asked in `channel` (on its database thread, before
    its conversation is found) until `until()` holds."""
    real = services.thread_conversation

    def held(**kwargs: Any) -> str:
        if kwargs["channel"] == channel:
            wait_for_sync(until, 20, what=f"the start in {channel} to be let go")
        return real(**kwargs)

    monkeypatch.setattr(services, "thread_conversation", held)


@pytest.mark.parametrize("bob_first", [False, True], ids=["together", "bob-first"])
async def test_two_slack_users_answers_never_mix(
    slack: SlackAPI, stub: OpenAIStub, monkeypatch: Any, bob_first: bool
) -> None:
    """Two threads at once, two mapped users, each asking their own question (the model
    stub answers each question with its own reply, as a model does): each thread gets
    its asker's answer only, whichever question reaches the model first. The two
    answers start concurrently, so their questions race to the model; `bob-first` forces
    the order CI once saw: Alice asks first, Bob's question reaches the model first."""
    alice, bob = await make_user(), await make_user()
    await database_sync_to_async(SlackUser.objects.create)(slack_user_id="UA", user=alice)
    await database_sync_to_async(SlackUser.objects.create)(slack_user_id="UB", user=bob)
    stub.replies.extend(
        Reply(
            deltas=[f"{fruit} one.\n", f"{fruit} two.\n", f"{fruit} three."],
            delay=0.05,
            asked=fruit,
        )
        for fruit in ("Apples", "Pears")
    )
    if bob_first:
        hold_thread(monkeypatch, "CA", until=lambda: asked(stub, "Pears"))
    a = mention("<@UBOT> tell me about Apples", user="UA", channel="CA")
    b = mention("<@UBOT> tell me about Pears", user="UB", channel="CB")
    await send(a)
    await send(b)
    await answer.answers_done(timeout=20)
    questions = [last_question(body) for body in stub.requests]
    assert sorted(questions) == ["tell me about Apples", "tell me about Pears"]
    if bob_first:
        assert questions[0] == "tell me about Pears"
    for envelope, user, fruit in ((a, alice, "Apples"), (b, bob, "Pears")):
        channel, ts = envelope["event"]["channel"], envelope["event"]["ts"]
        owner, answers = await thread_answers(channel, ts)
        assert owner == user
        posted = joined(slack.posts(ts, channel))
        assert posted == answers[0].content == f"{fruit} one.\n{fruit} two.\n{fruit} three."
    assert len(slack.posts()) == 6  # nothing posted anywhere else


async def test_a_later_mention_in_the_thread_continues_its_conversation(
    slack: SlackAPI, stub: OpenAIStub
) -> None:
    stub.replies.extend([Reply(deltas=["One."]), Reply(deltas=["Two."])])
    first = mention("<@UBOT> first")
    await send(first)
    await answer.answers_done(timeout=20)
    ts = first["event"]["ts"]
    await send(mention("<@UBOT> second", thread_ts=ts))
    await answer.answers_done(timeout=20)
    _, answers = await thread_answers("C1", ts)
    assert [a.content for a in answers] == ["One.", "Two."]
    assert slack.posts(ts) == ["One.", "Two."]
    sent = [m["content"] for m in stub.requests[-1]["messages"] if m["role"] != "system"]
    assert sent == ["first", "One.", "second"]  # the thread's history


async def test_a_direct_message_is_answered_and_bots_are_not(
    slack: SlackAPI, stub: OpenAIStub
) -> None:
    stub.replies.append(Reply(deltas=["Hi there."]))
    dm = mention("hello", channel="D1", kind="message")
    bot = mention("from a bot", channel="D1", kind="message")
    bot["event"]["bot_id"] = "B1"
    edited = mention("edited", channel="D1", kind="message")
    edited["event"]["subtype"] = "message_changed"
    for envelope in (dm, bot, edited):
        assert (await send(envelope)).status_code == 200
    await answer.answers_done(timeout=20)
    assert slack.posts() == ["Hi there."]
    assert len(await messages()) == 2


async def test_a_model_error_ends_with_a_marked_post(slack: SlackAPI, stub: OpenAIStub) -> None:
    stub.replies.append(Reply(deltas=["Part one.\n", "never"], fail_after=1))
    envelope = mention()
    await send(envelope)
    await answer.answers_done(timeout=20)
    posts = slack.posts(envelope["event"]["ts"])
    assert posts[0] == "Part one."
    assert posts[-1].startswith("⚠️ ") and len(posts[-1]) > 3


async def test_url_verification_is_answered_with_its_challenge(slack: SlackAPI) -> None:
    response = await send({"type": "url_verification", "challenge": "abc123"})
    assert response.status_code == 200 and response.json() == {"challenge": "abc123"}


async def test_the_endpoint_is_off_without_token_and_secret(slack: SlackAPI, settings: Any) -> None:
    settings.SLACK_BOT_TOKEN = ""
    settings.SLACK_SIGNING_SECRET = ""
    response = await send(mention())
    assert response.status_code == 404
    assert response.json()["ok"] is False
    assert await messages() == [] and slack.calls == []


async def test_a_slow_or_failing_slack_never_delays_the_answer(
    slack: SlackAPI, stub: OpenAIStub
) -> None:
    """Slack holding every call: the answer is saved complete all the same; then a
    failed post (ok: false) is logged and the next ones still go, in order."""
    slack.hold.clear()
    slack.errors.append("channel_not_found")
    stub.replies.append(Reply(deltas=LINES, delay=0.05))
    envelope = mention()
    await send(envelope)

    async def complete() -> bool:
        found = [m for m in await messages() if m.role == "assistant"]
        return bool(found) and found[0].status == "complete"

    await wait_for(complete, 20, what="the answer saved complete while Slack waits")
    assert slack.calls == []  # the first post is still held
    slack.hold.set()
    await answer.answers_done(timeout=20)
    posts = slack.posts(envelope["event"]["ts"])
    assert posts and joined(posts) in joined([line.strip() for line in LINES])
    assert joined(posts).endswith("Fourth line.")


async def test_a_stopped_answer_ends_with_a_marked_post(slack: SlackAPI, stub: OpenAIStub) -> None:
    """Stopped (from a tab, say) after its first line: the thread is told."""
    stub.replies.append(Reply(deltas=["Started.\n"] + ["more "] * 200, delay=0.05))
    envelope = mention()
    await send(envelope)
    ts = envelope["event"]["ts"]
    await wait_for(lambda: slack.posts(ts), 20, what="the first post")
    conversation_id = await database_sync_to_async(
        lambda: SlackThread.objects.get(channel="C1", thread_ts=ts).conversation_id
    )()
    assert stop_here(conversation_id)
    await answer.answers_done(timeout=20)
    posts = slack.posts(ts)
    assert posts[0] == "Started." and posts[-1] == answer.STOPPED


async def test_sentence_mode_posts_one_message_per_sentence(
    slack: SlackAPI, stub: OpenAIStub, settings: Any
) -> None:
    settings.SLACK_CHUNK = "sentence"
    stub.replies.append(Reply(deltas=["One is here. Two ", "is there.\nThree."], delay=0.3))
    envelope = mention()
    await send(envelope)
    await answer.answers_done(timeout=20)
    assert slack.posts(envelope["event"]["ts"]) == ["One is here.", "Two is there.", "Three."]
