"""API tokens checked many at once (api_tokens.tokens_authenticate) give each request
the answer it would get alone, in one read; the Bearer checks of a burst of requests
are asked together (token_authenticate_async)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.accounts import api_tokens as tokens
from chat.accounts.api_tokens import TokenUse, token_create, token_revoke, tokens_authenticate
from chat.db import close_connections
from chat.models import ApiToken

pytestmark = pytest.mark.django_db

User = get_user_model()


def expired(token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))


def user_inactive(token: ApiToken) -> None:
    User.objects.filter(pk=token.user_id).update(is_active=False)


@pytest.mark.parametrize(
    ("spoil", "signs_in"),
    [
        (lambda token: None, True),
        (lambda token: token_revoke(token=token), False),
        (expired, False),
        (user_inactive, False),
    ],
    ids=["valid", "revoked", "expired", "user-inactive"],
)
def test_each_use_gets_the_answer_it_gets_alone(
    spoil: Callable[[ApiToken], Any], signs_in: bool
) -> None:
    token, raw = token_create(user=User.objects.create_user("ada"), name="script")
    spoil(token)
    alone = tokens.token_authenticate(raw)
    together = tokens_authenticate([TokenUse(raw), TokenUse("chat_" + "x" * 43), TokenUse("")])
    assert (alone == token, together) == (signs_in, [alone, None, None])


def test_a_burst_is_one_read_and_each_request_its_own_objects() -> None:
    """Ten users' tokens (one revoked), one of them presented three times, and two
    malformed values: one SELECT, one UPDATE per token whose last use is old, and the
    repeated token's three answers are three instances with three user instances."""
    made = [token_create(user=User.objects.create_user(f"u{n}"), name="t") for n in range(10)]
    token_revoke(token=made[4][0])
    ApiToken.objects.filter(pk=made[0][0].pk).update(last_used=timezone.now())
    uses = [TokenUse(raw, f"10.0.0.{n}") for n, (_t, raw) in enumerate(made)]
    uses += [TokenUse(made[1][1], "10.0.1.1"), TokenUse(made[1][1]), TokenUse("nope")]
    with CaptureQueriesContext(connection) as queries:
        found = tokens_authenticate(uses)
    expected = [t.pk if n != 4 else None for n, (t, _raw) in enumerate(made)]
    assert [t.pk if t else None for t in found] == [*expected, made[1][0].pk, made[1][0].pk, None]
    selects = [q for q in queries if q["sql"].startswith("SELECT")]
    updates = [q for q in queries if q["sql"].startswith("UPDATE")]
    # made[0] was used just now; made[4] is revoked; made[1] is written once.
    assert (len(selects), len(updates)) == (1, 8), [q["sql"][:60] for q in queries]
    repeated = [found[1], found[10], found[11]]
    assert len({id(t) for t in repeated}) == len({id(t.user) for t in repeated}) == 3
    assert ApiToken.objects.get(pk=made[1][0].pk).last_used_ip == "10.0.0.1"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_checks_that_arrive_together_are_asked_together(monkeypatch: Any) -> None:
    """A lone Bearer check goes at once; a burst of thirty in a few calls, each request
    getting its own answer; a value that is not a token asks nothing."""
    calls: list[int] = []

    def recording(uses: list[TokenUse]) -> list[ApiToken | None]:
        calls.append(len(uses))
        return tokens_authenticate(uses)

    monkeypatch.setattr(tokens._token_checks, "func", recording)

    def setup() -> list[tuple[ApiToken, str]]:
        made = [token_create(user=User.objects.create_user(f"s{n}"), name="t") for n in range(31)]
        token_revoke(token=made[7][0])
        return made

    made = await sync_to_async(setup)()
    assert await tokens.token_authenticate_async("not a token") is None and calls == []
    first = await tokens.token_authenticate_async(made[0][1])
    assert first is not None and first.pk == made[0][0].pk and calls == [1]
    found = await asyncio.gather(*(tokens.token_authenticate_async(raw) for _t, raw in made[1:]))
    assert [t is not None for t in found] == [n != 7 for n in range(1, 31)]
    assert [t.user_id for t in found if t] == [
        t.user_id for n, (t, _) in enumerate(made) if n and n != 7
    ]
    assert sum(calls[1:]) == 30 and len(calls) - 1 < 30
    await sync_to_async(connections.close_all)()
    await asyncio.to_thread(close_connections)
