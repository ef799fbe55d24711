"""The shipped proxies wait long enough for what the server sends: an answer ends
(LLM_MAX_ANSWER_SECONDS) before nginx or the ingress gives up on a silent upstream,
and the quiet-time signals (a /v1 answer's spaces, a stream's keepalive comments)
come well within it. Read from the files and the settings' defaults, so that a change
to either side that breaks the relationship fails here (issue #21)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chat.streaming.stream.follow import KEEPALIVE_SECONDS

REPO_ROOT = Path(__file__).resolve().parents[2]
SETTINGS = REPO_ROOT / "chatsite" / "settings.py"
NGINX_CONF = REPO_ROOT / "deploy" / "nginx.conf"
INGRESS = REPO_ROOT / "deploy" / "k8s" / "ingress.yaml"
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def default(name: str) -> float:
    """A setting's default as settings.py reads it: env_float("NAME", default)."""
    found = re.search(rf'env_(?:float|int)\(\s*"{name}",\s*([0-9.]+)\)', SETTINGS.read_text())
    assert found, f"{name} is not read with env_float/env_int in settings.py"
    return float(found.group(1))


def nginx_read_timeouts() -> list[float]:
    """Every proxy_read_timeout of deploy/nginx.conf, in seconds (nginx's default, 60 s,
    when it sets none)."""
    found = re.findall(r"^\s*proxy_read_timeout\s+(\d+)([smh]?)\s*;", NGINX_CONF.read_text(), re.M)
    return [int(value) * UNITS[unit] for value, unit in found] or [60.0]


def ingress_read_timeout() -> float:
    found = re.search(r'proxy-read-timeout:\s*"(\d+)"', INGRESS.read_text())
    return float(found.group(1)) if found else 60.0


def proxy_read_timeouts() -> list[float]:
    return [*nginx_read_timeouts(), ingress_read_timeout()]


def test_an_answer_ends_before_the_proxy_stops_waiting() -> None:
    """A /v1 answer asked for without `stream` ends (or is cut at its cap) before the
    proxy's read timeout: the server's cap is below every proxy's."""
    cap = default("LLM_MAX_ANSWER_SECONDS")
    for timeout in proxy_read_timeouts():
        assert cap < timeout, f"LLM_MAX_ANSWER_SECONDS={cap} >= proxy read timeout {timeout}"


@pytest.mark.parametrize(
    ("what", "seconds"),
    [
        ("CHAT_API_HEARTBEAT_SECONDS", default("CHAT_API_HEARTBEAT_SECONDS")),
        ("KEEPALIVE_SECONDS", KEEPALIVE_SECONDS),
    ],
)
def test_a_quiet_answer_sends_something_well_within_the_read_timeout(
    what: str, seconds: float
) -> None:
    """Spaces (/v1 without `stream`) and keepalive comments (streams) come at least
    twice within any proxy read timeout (after a token, at most about two intervals
    pass: the check runs on each frame)."""
    for timeout in proxy_read_timeouts():
        assert 0 < 2 * seconds < timeout, f"{what}={seconds} against read timeout {timeout}"
