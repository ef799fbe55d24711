"""The load benchmark's hands in the database, through the Django ORM of one checkout.

    python bench/db_agent.py --root <checkout>     (JSON requests on stdin, one per line)

The benchmark starts one agent per code version it measures, with that version's
checkout first on sys.path and the servers' DATABASE_URL (or SQLITE_PATH) and
SECRET_KEY in its environment, so users, sessions and conversations are created,
and answers read back, by the same models and the same session signing as the
servers under test use (the version before may have another schema, and its modules
other paths: names that moved are looked up where each checkout has them, MOVED).

Requests and replies, one JSON object per line:
  {"cmd": "setup", "prefix": "r3", "n": 1000}
      -> {"users": [{"username", "session", "conversation"}, ...]}
         users with an unusable password, a logged-in session each (the auth session
         keys `_auth_user_id`, `_auth_user_backend`, `_auth_user_hash`) and one empty
         conversation each; written in bulk.
  {"cmd": "answers", "conversations": [id, ...]}
      -> {"answers": {conversation id: [{"id", "content", "status"}, ...]}}
         the assistant messages of each conversation, oldest first.
  {"cmd": "tokens", "usernames": [...], "name": "bench"}
      -> {"tokens": [raw token, ...]}
         a personal API token for each user (token_create, see MOVED), in order.
  {"cmd": "conversations", "usernames": [...]}
      -> {"conversations": [id, ...]}
         one new empty conversation for each user, in order.
  {"cmd": "quit"}

The first line it writes is {"ready": true, "chat": <directory of the chat package it
imported>}, so the benchmark can check that each agent runs its own checkout's code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

# Names of the chat app this agent uses from modules that moved, with where each
# checkout may have them, newest layout first (f59f16e and before: the flat chat/).
MOVED = {
    "token_create": ("chat.accounts.api_tokens", "chat.tokens"),
}


def chat_name(name: str) -> Any:
    """`name` from the first of its MOVED modules this checkout has."""
    for module in MOVED[name]:
        try:
            return getattr(importlib.import_module(module), name)
        except ModuleNotFoundError as exc:
            # Only the module (or a package above it) missing: try the next place. An
            # import failing inside the module is a real error.
            if not exc.name or not (module == exc.name or module.startswith(exc.name + ".")):
                raise
    raise ImportError(f"{name} is in none of {', '.join(MOVED[name])}")


def setup_django(root: Path) -> None:
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(root))
    os.chdir(root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()


def setup_users(prefix: str, n: int) -> list[dict[str, str]]:
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import transaction
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from chat.models import Conversation

    user_model = get_user_model()
    backend = "django.contrib.auth.backends.ModelBackend"
    with transaction.atomic():
        users = user_model.objects.bulk_create(
            [user_model(username=f"{prefix}-{i}", password=make_password(None)) for i in range(n)],
            batch_size=500,
        )
        if any(u.pk is None for u in users):  # a backend without RETURNING
            by_name = user_model.objects.in_bulk(
                [u.get_username() for u in users], field_name="username"
            )
            users = [by_name[u.get_username()] for u in users]
        store = SessionStore()
        expires = timezone.now() + timedelta(days=1)
        sessions = []
        for user in users:
            data = {
                SESSION_KEY: str(user.pk),
                BACKEND_SESSION_KEY: backend,
                HASH_SESSION_KEY: user.get_session_auth_hash(),
            }
            key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
            sessions.append(
                Session(session_key=key, session_data=store.encode(data), expire_date=expires)
            )
        Session.objects.bulk_create(sessions, batch_size=500)
        conversations = Conversation.objects.bulk_create(
            [Conversation(owner=user, title=f"bench {user.get_username()}") for user in users],
            batch_size=500,
        )
    return [
        {"username": u.get_username(), "session": s.session_key, "conversation": str(c.pk)}
        for u, s, c in zip(users, sessions, conversations, strict=True)
    ]


def tokens(usernames: list[str], name: str) -> list[str]:
    from django.contrib.auth import get_user_model

    token_create = chat_name("token_create")
    by_name = get_user_model().objects.in_bulk(usernames, field_name="username")
    return [token_create(user=by_name[u], name=name)[1] for u in usernames]


def conversations(usernames: list[str]) -> list[str]:
    from django.contrib.auth import get_user_model

    from chat.models import Conversation

    by_name = get_user_model().objects.in_bulk(usernames, field_name="username")
    made = Conversation.objects.bulk_create(
        [Conversation(owner=by_name[u], title=f"bench {u}") for u in usernames], batch_size=500
    )
    return [str(c.pk) for c in made]


def answers(conversation_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    from chat.models import Message

    found: dict[str, list[dict[str, Any]]] = {cid: [] for cid in conversation_ids}
    for start in range(0, len(conversation_ids), 500):
        rows = (
            Message.objects.filter(
                conversation_id__in=conversation_ids[start : start + 500], role="assistant"
            )
            .order_by("created")
            .values_list("conversation_id", "id", "content", "status")
        )
        for conversation_id, message_id, content, status in rows:
            found[str(conversation_id)].append(
                {"id": str(message_id), "content": content, "status": status}
            )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, type=Path)
    args = parser.parse_args()
    out = sys.stdout
    sys.stdout = sys.stderr  # anything Django prints must not break the protocol
    setup_django(args.root.resolve())
    from django.db import connections

    import chat

    out.write(json.dumps({"ready": True, "chat": str(Path(chat.__file__).parent)}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        cmd = request.get("cmd")
        try:
            if cmd == "setup":
                reply: dict[str, Any] = {"users": setup_users(request["prefix"], request["n"])}
            elif cmd == "answers":
                reply = {"answers": answers(request["conversations"])}
            elif cmd == "tokens":
                reply = {"tokens": tokens(request["usernames"], request.get("name", "bench"))}
            elif cmd == "conversations":
                reply = {"conversations": conversations(request["usernames"])}
            elif cmd == "quit":
                break
            else:
                reply = {"error": f"unknown command {cmd!r}"}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            connections.close_all()
        out.write(json.dumps(reply, ensure_ascii=False) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
