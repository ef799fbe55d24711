"""The pure parts of the abuse protection: the client address and the origin list."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from security.client import client_ip
from security.origins import own_origin, parse_allowed_origins


def request(remote: str = "10.0.0.1", real_ip: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if real_ip is not None:
        extra["HTTP_X_REAL_IP"] = real_ip
    return RequestFactory().post("/accounts/login/", **extra)


def test_the_client_address_is_the_peer_unless_behind_the_proxy(settings) -> None:
    settings.BEHIND_PROXY = False
    assert client_ip(request("10.0.0.1", real_ip="203.0.113.9")) == "10.0.0.1"
    settings.BEHIND_PROXY = True
    assert client_ip(request("172.18.0.5", real_ip="203.0.113.9")) == "203.0.113.9"
    assert client_ip(request("172.18.0.5", real_ip=" 2001:DB8::1 ")) == "2001:db8::1"
    # A header that is not an address (or none) falls back to the peer.
    assert client_ip(request("172.18.0.5", real_ip="203.0.113.9, 10.0.0.1")) == "172.18.0.5"
    assert client_ip(request("172.18.0.5")) == "172.18.0.5"


def test_allowed_origins_are_whole_origins() -> None:
    assert parse_allowed_origins(["https://Chat.Example.com", "http://localhost:8080/"]) == [
        "https://chat.example.com",
        "http://localhost:8080",
    ]
    # Django's subdomain wildcard, in Channels' spelling.
    assert parse_allowed_origins(["https://*.example.com"]) == ["https://.example.com"]


@pytest.mark.parametrize(
    "bad",
    [
        "chat.example.com",  # no scheme: Channels would allow any scheme and port
        "*",
        "https://*",
        "ftp://chat.example.com",
        "https://chat.example.com/path",
        "https://chat.example.com:notaport",
        "https://user@chat.example.com",
    ],
)
def test_a_bad_allowed_origin_is_a_clear_configuration_error(bad: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"WS_ALLOWED_ORIGINS.*scheme://host"):
        parse_allowed_origins([bad])


def test_the_own_origin_needs_an_allowed_host(settings) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    scope = {"headers": [(b"host", b"127.0.0.1:8000")]}
    assert own_origin(scope) == "http://127.0.0.1:8000"
    assert own_origin({"headers": [(b"host", b"evil.example:8000")]}) is None
    assert own_origin({"headers": []}) is None
    assert own_origin({**scope, "scheme": "wss"}) == "https://127.0.0.1:8000"
