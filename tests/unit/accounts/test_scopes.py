"""What each token scope reaches (chat/accounts/scopes.py), and the client address a
token socket records."""

from __future__ import annotations

import pytest

from chat.accounts.bearer import scope_client_ip
from chat.accounts.scopes import change_refusal, http_refusal, socket_refusal
from chat.errors import ErrorCode


@pytest.mark.parametrize(
    ("scope", "method", "path", "allowed"),
    [
        ("full", "POST", "/api/conversations/", True),
        ("full", "DELETE", "/api/conversations/x/", True),
        ("full", "POST", "/v1/chat/completions", True),
        ("read", "GET", "/api/conversations/", True),
        ("read", "HEAD", "/api/search/", True),
        ("read", "GET", "/v1/models", True),
        ("read", "POST", "/api/conversations/", False),
        ("read", "PATCH", "/api/conversations/x/", False),
        ("read", "DELETE", "/api/presets/x/", False),
        ("read", "PUT", "/api/presets/x/", False),
        ("read", "POST", "/v1/chat/completions", False),
        ("v1", "GET", "/v1/models", True),
        ("v1", "POST", "/v1/chat/completions", True),
        ("v1", "GET", "/api/conversations/", False),
        ("v1", "GET", "/", False),
        ("v1", "GET", "/v1", False),
    ],
)
def test_http_scopes(scope: str, method: str, path: str, allowed: bool) -> None:
    refusal = http_refusal(scope, method=method, path=path)
    assert (refusal is None) == allowed
    if refusal is not None:
        assert (refusal.code, refusal.status) == (ErrorCode.NOT_ALLOWED, 403)


def test_socket_scopes() -> None:
    assert socket_refusal(None) is None and socket_refusal("full") is None
    assert socket_refusal("read") is None and socket_refusal("v1") is not None
    assert change_refusal(None) is None and change_refusal("full") is None
    assert change_refusal("read") is not None


@pytest.mark.parametrize(
    ("behind_proxy", "headers", "client", "address"),
    [
        (False, [], ("203.0.113.9", 1), "203.0.113.9"),
        (False, [(b"x-real-ip", b"198.51.100.1")], ("203.0.113.9", 1), "203.0.113.9"),
        (True, [(b"x-real-ip", b"198.51.100.1")], ("10.0.0.2", 1), "198.51.100.1"),
        (True, [(b"x-real-ip", b"not an address")], ("10.0.0.2", 1), "10.0.0.2"),
        (True, [], None, None),
        (False, [], ("not-an-ip", 1), None),
    ],
)
def test_scope_client_ip(settings, behind_proxy, headers, client, address) -> None:
    settings.BEHIND_PROXY = behind_proxy
    assert scope_client_ip({"headers": headers, "client": client}) == address
