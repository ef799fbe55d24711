"""The client's IP address, one rule for the login lockout (django-axes'
AXES_CLIENT_IP_CALLABLE) and the sign-up throttle."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

# deploy/nginx.conf overwrites this header with the address it saw ($remote_addr), so a
# value the client sent never gets through. Without BEHIND_PROXY it is never read: a
# client talking to the server directly could write anything in it.
PROXY_ADDRESS_HEADER = "HTTP_X_REAL_IP"


def client_ip(request: HttpRequest) -> str:
    """The address of the client: the proxy's header when BEHIND_PROXY, else the peer's."""
    if settings.BEHIND_PROXY:
        forwarded = _valid_ip(request.META.get(PROXY_ADDRESS_HEADER, ""))
        if forwarded:
            return forwarded
    return _valid_ip(request.META.get("REMOTE_ADDR", "")) or "0.0.0.0"


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None
