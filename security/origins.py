"""Which web pages may open a WebSocket: the whole origin (scheme, host and port) must
match, not just the host name.

A WebSocket is accepted from the same origins Django's CSRF check accepts a form
from:

- the site's own origin as the request names it: the scheme of the connection (or the
  proxy's X-Forwarded-Proto when BEHIND_PROXY sets SECURE_PROXY_SSL_HEADER) and the
  Host header, host and port, when that host is in ALLOWED_HOSTS. So `make run` on
  http://127.0.0.1:8000 and test servers on any loopback port work with no setting;
  and
- each origin of WS_ALLOWED_ORIGINS (default: CSRF_TRUSTED_ORIGINS), e.g. the public
  https://chat.example.com when a proxy rewrites the Host header or the port.

Anything else, and a socket with no Origin header, is closed before it is accepted
(HTTP 403). The matching itself is Channels' OriginValidator's (scheme, host, port with
the scheme's default port).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host


def parse_allowed_origins(origins: Iterable[str], name: str = "WS_ALLOWED_ORIGINS") -> list[str]:
    """Validate `scheme://host[:port]` entries (a leading `*.` admits subdomains, as in
    CSRF_TRUSTED_ORIGINS) and return them in Channels' pattern form.

    Channels would read an entry without a scheme as "this host, any scheme, any
    port", which is exactly what this rule refuses, so it is an error here."""
    patterns = []
    for origin in origins:
        parts = urlsplit(origin)
        try:
            parts.port  # noqa: B018 (raises ValueError for a bad port)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.path not in {"", "/"}
            or parts.query
            or parts.fragment
            or parts.username
            or "*" in parts.netloc.removeprefix("*.")
        ):
            raise ImproperlyConfigured(
                f"{name}: {origin!r} is not an origin; write scheme://host[:port], "
                "e.g. https://chat.example.com or http://localhost:8080."
            )
        netloc = parts.netloc.lower()
        if netloc.startswith("*."):
            netloc = netloc[1:]  # Channels spells "this domain and its subdomains" ".host"
        patterns.append(f"{parts.scheme}://{netloc}")
    return patterns


def own_origin(scope: dict[str, Any]) -> str | None:
    """The origin a page of this site has, as this request names the site: None when
    its Host header is missing or not in ALLOWED_HOSTS."""
    headers = dict(scope.get("headers", []))
    host = headers.get(b"host", b"").decode("latin1").strip()
    domain, _port = split_domain_port(host)
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]  # as Django's get_host()
    if not domain or not validate_host(domain, allowed_hosts):
        return None
    return f"{'https' if _is_secure(scope, headers) else 'http'}://{host.lower()}"


def _is_secure(scope: dict[str, Any], headers: dict[bytes, bytes]) -> bool:
    if scope.get("scheme") in {"wss", "https"}:
        return True
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy_header:
        return False
    meta_name, secure_value = proxy_header
    header = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin1")
    value = headers.get(header, b"").decode("latin1").split(",")[0].strip()
    return value == secure_value


class SiteOriginValidator:
    """ASGI middleware: the WebSocket goes on only from an allowed origin (see above)."""

    def __init__(self, application: Any, allowed_origins: Iterable[str] | None = None) -> None:
        self.application = application
        self.allowed_origins = parse_allowed_origins(
            settings.WS_ALLOWED_ORIGINS if allowed_origins is None else allowed_origins
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        own = own_origin(scope)
        allowed = [*self.allowed_origins, own] if own else self.allowed_origins
        return await OriginValidator(self.application, allowed)(scope, receive, send)
