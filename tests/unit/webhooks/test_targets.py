"""The rule against server-side request forgery: which URLs a webhook may reach."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from chat.webhooks.targets import TargetRefused, address_refusal, resolve


def resolver_to(*addresses: str) -> Any:
    """A resolver that answers `addresses` (what getaddrinfo returns), for any name."""

    def resolve_name(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        family = lambda a: socket.AF_INET6 if ":" in a else socket.AF_INET  # noqa: E731
        return [(family(a), socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve_name


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("93.184.216.34", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
        ("127.0.0.1", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # cloud metadata
        ("fe80::1", True),
        ("fc00::1", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("0.0.0.0", True),
        ("::", True),
        ("100.64.0.1", True),  # carrier-grade NAT: not global
        ("::ffff:127.0.0.1", True),  # IPv4 mapped into IPv6
        ("::ffff:93.184.216.34", False),
    ],
)
def test_addresses(address: str, refused: bool) -> None:
    assert (address_refusal(address) is not None) is refused


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http:///nohost",
        "https://user:pw@example.com/hook",
        "http://example.com:99999/",
        "not a url",
    ],
)
def test_urls_no_webhook_may_have(url: str) -> None:
    with pytest.raises(TargetRefused):
        resolve(url, allow_private=True, resolver=resolver_to("93.184.216.34"))


def test_a_name_with_any_private_address_is_refused() -> None:
    """After DNS: a public name that also resolves to a private address is refused."""
    with pytest.raises(TargetRefused, match="private"):
        resolve(
            "https://hooks.example.com/x",
            allow_private=False,
            resolver=resolver_to("93.184.216.34", "10.0.0.5"),
        )


def test_the_operator_may_allow_private_targets() -> None:
    target = resolve(
        "http://localhost:8080/in", allow_private=True, resolver=resolver_to("127.0.0.1")
    )
    assert target.address == "127.0.0.1"


def test_a_name_that_does_not_resolve_is_refused() -> None:
    def fails(*_: Any, **__: Any) -> Any:
        raise socket.gaierror("no such name")

    with pytest.raises(TargetRefused, match="cannot be resolved"):
        resolve("https://nowhere.invalid/", allow_private=False, resolver=fails)


@pytest.mark.parametrize(
    ("url", "address", "connect", "host"),
    [
        (
            "https://hooks.example.com/a?b=1",
            "93.184.216.34",
            "https://93.184.216.34:443/a?b=1",
            "hooks.example.com",
        ),
        (
            "http://hooks.example.com:8080/a",
            "93.184.216.34",
            "http://93.184.216.34:8080/a",
            "hooks.example.com:8080",
        ),
        (
            "https://hooks.example.com/",
            "2606:2800::1",
            "https://[2606:2800::1]:443/",
            "hooks.example.com",
        ),
    ],
)
def test_the_request_goes_to_the_address_checked(
    url: str, address: str, connect: str, host: str
) -> None:
    """No second lookup between the check and the connection (DNS rebinding)."""
    target = resolve(url, allow_private=False, resolver=resolver_to(address))
    assert (target.connect_url, target.host_header) == (connect, host)
