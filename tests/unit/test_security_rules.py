"""The pure parts of the abuse protection: the client address."""

from __future__ import annotations

from django.test import RequestFactory

from security.client import client_ip


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
