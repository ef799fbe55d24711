"""`manage.py create_api_token USERNAME [--name NAME] [--scope SCOPE] [--days N]`:
mint a token from a shell."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.accounts.api_tokens import TokenLimitReached, token_create
from chat.models import ApiToken


class Command(BaseCommand):
    help = (
        "Create a personal API token for a user and print it, once, on its own line "
        "(TOKEN=$(python manage.py create_api_token alice)). Only its hash is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="what the token is for")
        parser.add_argument(
            "--scope",
            choices=ApiToken.Scope.values,
            default=ApiToken.Scope.FULL,
            help="full (the default), read (GET requests only) or v1 (/v1 only)",
        )
        parser.add_argument(
            "--days", type=int, default=90, help="days until it expires (90; 0: never)"
        )

    def handle(
        self, *args: Any, username: str, name: str, scope: str, days: int, **options: Any
    ) -> None:
        model = get_user_model()
        user = model.objects.filter(**{model.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"The user {username!r} is inactive: a token would not work.")
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters.")
        if days < 0:
            raise CommandError("--days must be 0 (never expires) or more.")
        lifetime = timedelta(days=days) if days else None
        try:
            _token, raw = token_create(user=user, name=name, scope=scope, lifetime=lifetime)
        except TokenLimitReached as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(raw)
