"""This process's metrics, in Prometheus' text format at /metrics.

Each process counts its own (sockets, answers, tokens, failures); Prometheus scrapes
every replica and adds them up. The hooks elsewhere are one call each: a counter
increment is a lock-protected add in prometheus_client, cheap enough per delta.

/metrics is for the scraper only: with METRICS_TOKEN set it wants
`Authorization: Bearer <token>`; without it, only a request from this machine's
loopback that did not come through a proxy (no X-Forwarded-For, no X-Real-IP).
Anyone else gets an empty 403.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

WEBSOCKETS_OPEN = Gauge("chat_websockets_open", "Chat WebSockets open in this process.")
HTTP_STREAMS_OPEN = Gauge(
    "chat_http_streams_open", "Answers followed over HTTP (event streams, /v1) in this process."
)
ANSWERS_RUNNING = Gauge("chat_answers_running", "Answers streaming in this process.")
ANSWERS_FINISHED = Counter("chat_answers_finished", "Answers ended, by final status.", ["status"])
TOKENS_RELAYED = Counter(
    "chat_tokens_relayed", "Text deltas streamed from the model (one per delta)."
)
ANSWER_TTFT = Histogram(
    "chat_answer_ttft_seconds",
    "Time from an answer's start to its first token.",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60),
)
ANSWER_DURATION = Histogram(
    "chat_answer_duration_seconds",
    "Time from an answer's start to its end.",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 90, 120, 180, 300, 600),
)
ANSWER_START = Histogram(  # observed by chat/telemetry/startpath.py
    "chat_answer_start_seconds",
    "The server's time from a user's message to the model request, by door and phase "
    "(phase total: the whole of it).",
    ["door", "phase"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CHANNEL_LAYER_ERRORS = Counter(
    "chat_channel_layer_errors", "Channel-layer (Redis) calls that failed and were caught."
)
DATABASE_ERRORS = Counter("chat_database_errors", "Database calls that failed and were caught.")
WEBHOOK_POSTS = Counter(
    "chat_webhook_posts", "Webhook deliveries posted, by outcome (delivered, failed).", ["outcome"]
)
CLOCK_SKEW = Gauge(
    "chat_clock_skew_seconds",
    "This process's clock minus the database's, as last measured (each sweep).",
)

# Headers a proxy adds: a request carrying one did not come from this machine, even
# when the proxy runs on it (Daphne's --proxy-headers may have rewritten the peer).
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP")


def answer_finished(status: str, ttft_ms: int | None, duration_ms: int) -> None:
    """Count an ended answer and observe its timings."""
    ANSWERS_FINISHED.labels(status=status).inc()
    if ttft_ms is not None:
        ANSWER_TTFT.observe(ttft_ms / 1000)
    ANSWER_DURATION.observe(duration_ms / 1000)


def metrics_allowed(
    *, token: str, authorization: str | None, remote_addr: str | None, proxied: bool
) -> bool:
    """The access rule of /metrics (see the module's docstring)."""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), token.encode())
    if proxied:
        return False
    try:
        return ipaddress.ip_address((remote_addr or "").strip()).is_loopback
    except ValueError:
        return False


async def metrics(request: HttpRequest) -> HttpResponse:
    """GET /metrics: this process's metrics for the scraper, nothing for anyone else."""
    allowed = metrics_allowed(
        token=settings.METRICS_TOKEN,
        authorization=request.headers.get("Authorization"),
        remote_addr=request.META.get("REMOTE_ADDR"),
        proxied=any(name in request.META for name in PROXY_HEADERS),
    )
    if not allowed:
        return HttpResponse(status=403)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
