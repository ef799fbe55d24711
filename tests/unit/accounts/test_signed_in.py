"""Many credentials checked at once (chat/accounts/signed_in.py): each answer is
Django's own, and a burst costs a query per kind, not two per credential."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.accounts import guards
from chat.accounts.api_tokens import token_create, token_revoke
from chat.accounts.signed_in import Credential, signed_in_by_django, signed_in_many
from chat.db import close_connections
from chat.models import ApiToken

pytestmark = pytest.mark.django_db

User = get_user_model()


def signed_in_session(name: str) -> tuple[Any, str]:
    """A user and the key of a session that a real log-in wrote for them."""
    user = User.objects.create_user(name, password="a long pass phrase")
    client = Client()
    client.force_login(user)
    return user, client.session.session_key


def logged_out(user: Any, key: str) -> None:
    Session.objects.filter(session_key=key).delete()


def password_changed(user: Any, key: str) -> None:
    user.set_password("another long pass phrase")
    user.save()


def deactivated(user: Any, key: str) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)


def expired(user: Any, key: str) -> None:
    Session.objects.filter(session_key=key).update(expire_date=timezone.now())


def hash_cleared(user: Any, key: str) -> None:
    store = SessionStore(key)
    store.pop("_auth_user_hash")
    store.save()


def unchanged(user: Any, key: str) -> None:
    pass


@pytest.mark.parametrize(
    ("change", "still"),
    [
        (unchanged, True),
        (logged_out, False),
        (password_changed, False),
        (deactivated, False),
        (expired, False),
        (hash_cleared, False),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_a_session_is_judged_as_django_judges_it(
    change: Callable[[Any, str], None], still: bool
) -> None:
    """Each way a session stops signing its user in, and the one where it does not."""
    user, key = signed_in_session("ada")
    change(user, key)
    credential = Credential(user.pk, session_key=key)
    assert signed_in_many([credential]) == [still]
    assert signed_in_by_django(credential) is still


def test_a_session_never_signs_in_another_user() -> None:
    ada, key = signed_in_session("ada")
    bob = User.objects.create_user("bob")
    assert signed_in_many([Credential(bob.pk, session_key=key)]) == [False]
    assert signed_in_many([Credential(ada.pk, session_key=None)]) == [False]


def test_a_session_of_a_rotated_secret_is_left_to_django(settings: Any) -> None:
    """Signed in under the previous SECRET_KEY (now a fallback): Django still accepts
    it (and moves it to the new key), so the batch does too."""
    user, key = signed_in_session("ada")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a new secret key that is long enough for the checks here"
    assert signed_in_many([Credential(user.pk, session_key=key)]) == [True]


@pytest.mark.parametrize(
    ("spoil", "still"),
    [
        (lambda token: None, True),
        (lambda token: token_revoke(token=token), False),
        (
            lambda token: ApiToken.objects.filter(pk=token.pk).update(
                expires=timezone.now() - timedelta(seconds=1)
            ),
            False,
        ),
        (lambda token: User.objects.filter(pk=token.user_id).update(is_active=False), False),
    ],
    ids=["valid", "revoked", "expired", "user-inactive"],
)
def test_a_token_signs_in_while_it_is_active(spoil: Callable[[Any], Any], still: bool) -> None:
    user = User.objects.create_user("ada")
    token, _raw = token_create(user=user, name="script")
    spoil(token)
    assert signed_in_many([Credential(user.pk, token_id=token.pk)]) == [still]


def test_a_token_never_signs_in_another_user() -> None:
    ada, bob = User.objects.create_user("ada"), User.objects.create_user("bob")
    token, _raw = token_create(user=ada, name="script")
    assert signed_in_many([Credential(bob.pk, token_id=token.pk)]) == [False]


def test_a_socket_without_a_session_is_judged_by_its_account() -> None:
    ada, bob = User.objects.create_user("ada"), User.objects.create_user("bob", is_active=False)
    credentials = [Credential(u.pk, with_session=False) for u in (ada, bob)]
    assert signed_in_many(credentials) == [True, False]


def test_a_burst_is_three_queries_and_keeps_each_answer_in_its_place() -> None:
    """Twenty sessions (one logged out), ten tokens (one revoked) and two bare sockets:
    four queries (the sessions, their users, the tokens, the bare accounts), and a
    fifth, Django's own read, for the session the batch could not confirm."""
    sessions = [signed_in_session(f"user{n}") for n in range(20)]
    tokens = [token_create(user=user, name="t")[0] for user, _key in sessions[:10]]
    logged_out(*sessions[3])
    token_revoke(token=tokens[5])
    credentials = [
        *(Credential(user.pk, session_key=key) for user, key in sessions),
        *(Credential(token.user_id, token_id=token.pk) for token in tokens),
        *(Credential(user.pk, with_session=False) for user, _key in sessions[:2]),
    ]
    with CaptureQueriesContext(connection) as queries:
        outcomes = signed_in_many(credentials)
    expected = [n != 3 for n in range(20)] + [n != 5 for n in range(10)] + [True, True]
    assert outcomes == expected
    # sessions, their users, tokens, bare accounts; then Django's read of the one gone
    assert len(queries) == 5, [q["sql"][:60] for q in queries]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_checks_that_arrive_together_are_asked_together(monkeypatch: Any) -> None:
    """guards.still_signed_in: a lone check goes at once; a burst of thirty goes in a
    few calls, each socket getting its own answer."""
    calls: list[int] = []

    def recording(credentials: list[Credential]) -> list[bool]:
        calls.append(len(credentials))
        return signed_in_many(credentials)

    monkeypatch.setattr(guards._checks, "func", recording)
    made = await sync_to_async(lambda: [signed_in_session(f"s{n}") for n in range(31)])()
    await sync_to_async(logged_out)(*made[7])
    scopes = [{"user": user, "session": SessionStore(key)} for user, key in made]
    assert await guards.still_signed_in(scopes[0]) is True and calls == [1]
    answers = await asyncio.gather(*(guards.still_signed_in(scope) for scope in scopes[1:]))
    assert answers == [n != 7 for n in range(1, 31)]
    assert sum(calls[1:]) == 30 and len(calls) - 1 < 30
    await sync_to_async(connections.close_all)()
    # The database threads' connections too: a later test without database access
    # that reaches those threads would otherwise find one open and be refused.
    await asyncio.to_thread(close_connections)
