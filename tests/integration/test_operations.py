"""Operations: /healthz, /readyz and /metrics over the real database and real Redis, and
the metrics and chat.events lines one answer over a WebSocket leaves behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.test import AsyncClient
from prometheus_client import REGISTRY

from chat.ops import health
from chat.streaming.answer import draining
from chat.streaming.delivery.layers import ShardDown, ping_shards
from chat.telemetry.logs import process_name
from chatsite.settings import redis_channel_layer
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.redis_server import throwaway_redis
from tests.support.waiting import wait_for

from .conftest import open_chat, receive_until

POD_IP = "10.1.2.3"  # kubelet's Host header: the pod's address, not in ALLOWED_HOSTS
PROBE_HOST = "localhost"  # the Host deploy/k8s probes set


@pytest.fixture(autouse=True)
def fresh_readiness(monkeypatch: Any) -> None:
    """Each test starts with no readiness result shared from another test."""
    monkeypatch.setattr(health, "readiness", health.SharedCheck(health._not_ready_reason))
    monkeypatch.setattr(health, "_last_reason", "")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def layer_on(settings: Any, hosts: list[str], backend: str) -> Any:
    """The default channel layer as settings make it (`backend`), sharded over `hosts`."""
    config = redis_channel_layer(hosts[0], backend)
    config["CONFIG"].update(hosts=hosts, prefix=f"test-{uuid.uuid4().hex[:8]}")
    settings.CHANNEL_LAYERS = {"default": config}
    return get_channel_layer()


async def close_layer(layer: Any) -> None:
    """Let go of the layer's connections, some of them to a Redis that is gone."""
    for close in (getattr(layer, "flush", None), getattr(layer, "close_pools", None)):
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
    await sync_to_async(connections.close_all)()


# --- /healthz -------------------------------------------------------------------------


def test_healthz_answers_the_probes_host_over_plain_http_without_database(client, settings) -> None:
    """The process serves: 200 for the probe's Host and plain HTTP, with no database use
    (pytest-django would fail any query: this test has no database access)."""
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    for host in (PROBE_HOST, "127.0.0.1:8000", "chat.example.com"):
        response = client.get("/healthz", headers={"host": host})
        assert response.status_code == 200, host
        assert response.json() == {"status": "ok"}
        assert response["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in response


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_operations_paths_refuse_a_host_not_allowed(client, settings, path: str, caplog) -> None:
    """A Host outside ALLOWED_HOSTS (and not a loopback name) is refused as on every
    other path: 400, before any check runs, with no line logged per request (issue
    #21: these paths used to skip ALLOWED_HOSTS)."""
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    for host in (POD_IP, "evil.example.net", "chat.example.com.evil.net"):
        response = client.get(path, headers={"host": host})
        assert response.status_code == 400, (path, host)
        assert b"Unknown host" in response.content
    assert caplog.records == []


def test_operations_paths_answer_only_get(client) -> None:
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200


# --- /readyz --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_readyz_ready_with_database_and_redis(redis_layer: Any) -> None:
    """Database, a channel-layer round trip and every shard answer: 200, and the
    round trip leaves no channel subscribed behind."""
    client = AsyncClient(headers={"host": PROBE_HOST})
    for _ in range(3):
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready"}
    inner = getattr(redis_layer, "_get_layer", None)
    if inner is not None:  # the pub/sub layer: no queue, no subscription left
        assert inner().channels == {}
        assert all(not shard._subscribed_to for shard in inner()._shards)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_readyz_unavailable_while_draining(
    redis_layer: Any, monkeypatch: Any, caplog: Any
) -> None:
    """503 at once after SIGTERM, whatever result is shared; logged once when the
    state changes, not at every probe."""
    assert (await AsyncClient().get("/readyz")).status_code == 200
    monkeypatch.setattr(draining, "_draining", True)
    for _ in range(3):
        response = await AsyncClient().get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable"}
    assert [r.getMessage() for r in caplog.records] == ["not ready: draining"]
    monkeypatch.setattr(draining, "_draining", False)
    assert (await AsyncClient().get("/readyz")).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["pubsub", "core"])
async def test_readyz_unavailable_once_redis_stops(settings, backend: str, caplog: Any) -> None:
    """Ready on a live Redis; after that redis-server is stopped, 503 once the shared
    result is older than READYZ_CACHE_SECONDS, the reason (naming the channel layer)
    in the log only."""
    settings.READYZ_TIMEOUT_SECONDS = 2
    client = AsyncClient()
    with throwaway_redis() as url:
        layer = layer_on(settings, [url], backend)
        assert (await client.get("/readyz")).status_code == 200
    try:
        response = await wait_for(
            lambda: not_ready(client), timeout=15, what="/readyz to answer 503"
        )
        assert response.json() == {"status": "unavailable"}
        logged = [r.getMessage() for r in caplog.records if r.name == "chat.ops.health"]
        assert len(logged) == 1 and logged[0].startswith("not ready: channel layer: ")
    finally:
        await close_layer(layer)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["pubsub", "core"])
async def test_readyz_needs_every_redis_shard(settings, redis_url: str, backend: str) -> None:
    """Sharded over two servers: ready while both answer; once the second is stopped,
    not ready, and the shard that does not answer is named."""
    client = AsyncClient()
    with throwaway_redis() as second:
        layer = layer_on(settings, [redis_url, second], backend)
        assert (await client.get("/readyz")).status_code == 200
    try:
        await wait_for(lambda: not_ready(client), timeout=15, what="/readyz to answer 503")
        assert health.readiness.reason.startswith("channel layer: ")
        with pytest.raises(ShardDown, match="Redis shard 2 of 2"):
            await ping_shards(layer, 2)
    finally:
        await close_layer(layer)


async def not_ready(client: AsyncClient) -> Any:
    response = await client.get("/readyz")
    return response if response.status_code == 503 else None


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_readyz_hides_why_it_is_not_ready(settings, caplog: Any) -> None:
    """The database's error names its host and user: it goes to the log, the caller
    gets the status alone (issue #21: the reason was public)."""
    settings.READYZ_CACHE_SECONDS = 0
    with throwaway_redis() as url:
        layer = layer_on(settings, [url], "pubsub")
    try:
        response = await AsyncClient().get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable"}
        assert "127.0.0.1" not in response.content.decode()
        logged = [r.getMessage() for r in caplog.records if r.name == "chat.ops.health"]
        assert len(logged) == 1 and logged[0].startswith("not ready: channel layer: ")
    finally:
        await close_layer(layer)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["pubsub", "core"])
async def test_a_flood_of_readyz_runs_the_checks_once(settings, backend: str) -> None:
    """50 probes at once share one run of the checks: Redis sees one PING (it saw one
    per probe, 50, before issue #21), and each probe gets the same answer."""
    import redis.asyncio as aioredis

    settings.READYZ_CACHE_SECONDS = 60  # so the run that answers them all is the only one
    with throwaway_redis() as url:
        layer = layer_on(settings, [url], backend)
        admin = aioredis.Redis.from_url(url)
        try:
            await admin.config_resetstat()
            responses = await asyncio.gather(
                *(AsyncClient(headers={"host": PROBE_HOST}).get("/readyz") for _ in range(50))
            )
            assert [r.status_code for r in responses] == [200] * 50
            stats = await admin.info("commandstats")
            assert stats["cmdstat_ping"]["calls"] == 1, stats
        finally:
            await admin.aclose()
            await close_layer(layer)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["pubsub", "core"])
async def test_a_redis_with_a_password_is_reached_with_the_url_s_password(
    settings, backend: str
) -> None:
    """The shipped Redis wants a password (requirepass, deploy/ and compose): with it
    in REDIS_URL the layer works, without it the process is not ready."""
    import redis.asyncio as aioredis

    settings.READYZ_CACHE_SECONDS = 0
    client = AsyncClient(headers={"host": PROBE_HOST})
    with throwaway_redis() as url:
        admin = aioredis.Redis.from_url(url)
        await admin.config_set("requirepass", "s3cret-pass")
        await admin.aclose()
        port = urlsplit(url).port
        layer = layer_on(settings, [f"redis://:s3cret-pass@127.0.0.1:{port}/0"], backend)
        try:
            assert (await client.get("/readyz")).status_code == 200
        finally:
            await close_layer(layer)
        layer = layer_on(settings, [url], backend)
        try:
            assert (await client.get("/readyz")).status_code == 503
            assert "Authentication required" in health.readiness.reason
        finally:
            await close_layer(layer)


# --- /metrics -------------------------------------------------------------------------


def test_metrics_answers_loopback_without_a_proxy(client) -> None:
    response = client.get("/metrics", headers={"host": PROBE_HOST})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    for name in (
        "chat_websockets_open",
        "chat_answers_running",
        "chat_tokens_relayed_total",
        "chat_answer_ttft_seconds_bucket",
        "chat_answer_duration_seconds_bucket",
        "chat_channel_layer_errors_total",
        "chat_database_errors_total",
    ):
        assert f"\n{name}" in text, name


@pytest.mark.parametrize(
    "extra",
    [
        {"REMOTE_ADDR": "10.0.0.5"},
        {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"HTTP_X_REAL_IP": "203.0.113.9"},
    ],
    ids=["remote", "x-forwarded-for", "x-real-ip"],
)
def test_metrics_refuses_remote_or_proxied_requests_without_detail(client, extra, caplog) -> None:
    """An empty 403, and no log line per refused scrape."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 403 and response.content == b""
    assert caplog.records == []


def test_metrics_with_a_token_needs_the_bearer_token(client, settings) -> None:
    """With METRICS_TOKEN, the token decides (from anywhere), not the address."""
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 403  # loopback is not enough
    wrong = client.get("/metrics", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.content == b""
    right = {"authorization": "Bearer s3cret-token"}
    assert client.get("/metrics", headers=right, REMOTE_ADDR="10.0.0.5").status_code == 200
    proxied = client.get("/metrics", headers=right, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.status_code == 200


# --- One answer: metrics and chat.events ---------------------------------------------


def chat_events(caplog: Any) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "chat.events"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("redis_layer")
async def test_an_answer_moves_the_metrics_and_logs_events_without_content(
    stub: OpenAIStub, caplog: Any
) -> None:
    """One answer over a WebSocket: finished +1 (complete), one TTFT and one duration
    observed, one relayed token per delta; chat.events has the socket's opening and
    closing and the answer (tokens, timings), and no message text."""
    caplog.set_level(logging.INFO, logger="chat.events")
    stub.replies.append(Reply(deltas=["Secret", " answer", " text", "."]))
    before = {
        "finished": sample("chat_answers_finished_total", status="complete"),
        "ttft": sample("chat_answer_ttft_seconds_count"),
        "duration": sample("chat_answer_duration_seconds_count"),
        "tokens": sample("chat_tokens_relayed_total"),
        "open": sample("chat_websockets_open"),
    }
    user, conversation, ws = await open_chat()
    assert sample("chat_websockets_open") == before["open"] + 1
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": "private words"}))
    frames = await receive_until(ws, "end")
    assert frames[-1]["status"] == "complete"
    answer_id = frames[-1]["message_id"]
    assert sample("chat_answers_finished_total", status="complete") == before["finished"] + 1
    assert sample("chat_answer_ttft_seconds_count") == before["ttft"] + 1
    assert sample("chat_answer_duration_seconds_count") == before["duration"] + 1
    assert sample("chat_tokens_relayed_total") == before["tokens"] + 4
    await ws.disconnect()
    await wait_for(lambda: sample("chat_websockets_open") == before["open"], what="socket count")

    events = await wait_for(
        lambda: (
            [e for e in chat_events(caplog) if e["event"] == "socket_closed"]
            and chat_events(caplog)
        ),
        what="the socket_closed event",
    )
    mine = [e for e in events if e.get("conversation") == str(conversation.pk)]
    assert [e["event"] for e in mine] == ["socket_opened", "answer_finished", "socket_closed"]
    opened, answer, closed = mine
    assert opened["user_id"] == closed["user_id"] == answer["user_id"] == user.pk
    assert closed["code"] == 1000
    assert answer["message_id"] == answer_id and answer["status"] == "complete"
    assert answer["tokens"] == {"input": 11, "output": 4, "total": 15}
    assert answer["ttft_ms"] is not None and answer["duration_ms"] >= answer["ttft_ms"]
    for event in mine:
        assert event["process"] == process_name() and event["ts"].endswith("Z")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "chat.events")
    assert "Secret" not in logged and "private words" not in logged and "content" not in logged


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("redis_layer")
async def test_answer_text_is_logged_only_with_log_message_content(
    stub: OpenAIStub, caplog: Any, settings: Any
) -> None:
    settings.LOG_MESSAGE_CONTENT = True
    caplog.set_level(logging.INFO, logger="chat.events")
    stub.replies.append(Reply(deltas=["Logged", " on", " purpose."]))
    _user, conversation, ws = await open_chat()
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": "hello"}))
    await receive_until(ws, "end")
    await ws.disconnect()
    answers = [
        e
        for e in chat_events(caplog)
        if e["event"] == "answer_finished" and e["conversation"] == str(conversation.pk)
    ]
    assert [a["content"] for a in answers] == ["Logged on purpose."]
