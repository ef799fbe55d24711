"""Which URLs a webhook may reach: the rule against server-side request forgery.

http and https only; the host is resolved and every address it has must be public:
private, loopback, link-local, multicast, reserved, unspecified and other non-global
addresses are refused (an IPv4 address mapped into IPv6 is judged as IPv4), unless
the operator sets WEBHOOK_ALLOW_PRIVATE_TARGETS. The check runs when a subscription
is made and again before every delivery, and the delivery connects to the address
checked (`Target.address`), so a name that resolves elsewhere a moment later (DNS
rebinding) is not asked again.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
Resolver = Callable[..., list[tuple[Any, ...]]]


class TargetRefused(Exception):
    """A URL a webhook may not reach; the message says why (shown to the owner)."""


@dataclass(frozen=True)
class Target:
    """A URL checked, and the address its request goes to."""

    url: str
    scheme: str
    host: str  # as written: the Host header and TLS's server name
    port: int
    address: str  # the address checked: the one connected to

    @property
    def connect_url(self) -> str:
        """The URL with the checked address in place of the name."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        return parts._replace(netloc=f"{literal}:{self.port}").geturl()

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if DEFAULT_PORTS[self.scheme] == self.port else f"{name}:{self.port}"


def split(url: str) -> tuple[SplitResult, str, int]:
    """The URL's parts, host and port; TargetRefused for one no webhook may have."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise TargetRefused("The URL is not valid.") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise TargetRefused("Only http and https URLs can receive webhooks.")
    if not parts.hostname:
        raise TargetRefused("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("The URL may not carry a user name or password.")
    return parts, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def address_refusal(address: str) -> str | None:
    """Why a webhook may not reach this IP address (None: it may)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{kind}"):
            return f"{ip} is a {kind.replace('_', '-')} address."
    if not ip.is_global:
        return f"{ip} is not a public address."
    return None


def resolve(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> Target:
    """The URL checked and the address to connect to (blocking: DNS). Raises
    TargetRefused with the reason."""
    parts, host, port = split(url)
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetRefused(f"The host {host} cannot be resolved.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused(f"The host {host} cannot be resolved.")
    if not allow_private:
        for address in addresses:
            if (why := address_refusal(address)) is not None:
                raise TargetRefused(f"{host} is refused: {why}")
    return Target(url.strip(), parts.scheme, host, port, addresses[0])
