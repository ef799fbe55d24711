"""What signed an HTTP request in, as a socket's scope holds it
(chat/accounts/guards.py `request_credential`): an HTTP stream checks it again when
the account changes. No database."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from chat.accounts.guards import request_credential

USER = SimpleNamespace(pk=7)
SESSION = SimpleNamespace(session_key="k")
TOKEN = SimpleNamespace(pk=42)


@pytest.mark.parametrize(
    ("request_", "credential"),
    [
        (SimpleNamespace(api_token=TOKEN, session=SESSION), {"user": USER, "api_token_id": 42}),
        (SimpleNamespace(api_token=None, session=SESSION), {"user": USER, "session": SESSION}),
        (SimpleNamespace(session=SESSION), {"user": USER, "session": SESSION}),
    ],
    ids=["token", "token-attribute-empty", "session"],
)
def test_a_request_is_signed_in_by_its_token_else_its_session(
    request_: Any, credential: dict[str, Any]
) -> None:
    """A Bearer request is checked by its token (revoked, or its user inactive, ends it);
    any other by its session."""
    assert request_credential(request_, USER) == credential
