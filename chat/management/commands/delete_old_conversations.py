"""`manage.py delete_old_conversations [--days N] [--dry-run]`: the retention rule
(CHAT_RETENTION_DAYS) run once, from a shell or a cron job."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.conversations.services import conversations_delete_old


class Command(BaseCommand):
    help = (
        "Delete the conversations with no activity for --days days (default: "
        "CHAT_RETENTION_DAYS), with their messages, and print how many."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="at least 1")
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        days = settings.CHAT_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError(
                "Give --days (at least 1), or set CHAT_RETENTION_DAYS: retention is off."
            )
        count = conversations_delete_old(days=days, dry_run=dry_run)
        verb = "would be deleted" if dry_run else "deleted"
        self.stdout.write(f"{count} conversations older than {days} days {verb}.")
