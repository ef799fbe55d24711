"""Admin review pages at 1,000 and at 100,000 messages: time and queries per page.

The 1,000-message database is the baseline measured in the same run; the ratio
shows how the pages scale. PostgreSQL when BENCH_DATABASE_URL is set (a database
this script may drop and recreate), else a temporary SQLite file.

    python bench/admin_bench.py [--conversations 5000 --per-conversation 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ["DEBUG"] = "0"
os.environ["ALLOWED_HOSTS"] = "testserver"
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "")
if BENCH_DB:
    os.environ["DATABASE_URL"] = BENCH_DB
else:
    os.environ.pop("DATABASE_URL", None)
    os.environ["SQLITE_PATH"] = str(
        Path(tempfile.mkdtemp(prefix="chat-admin-bench-")) / "db.sqlite3"
    )

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from chat.models import Conversation, Feedback, Message  # noqa: E402

PAGES = {
    "changelist": "/admin/chat/conversation/",
    "search message text": "/admin/chat/conversation/?q=needle",
    "filter thumbs down": "/admin/chat/conversation/?feedback=down",
    "filter last answer error": "/admin/chat/conversation/?last_status=error",
    "filter model": "/admin/chat/conversation/?model=model-b",
    "usage overview": "/admin/chat/conversation/stats/",
}


def seed(conversations: int, per_conversation: int) -> None:
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    users = [get_user_model().objects.get_or_create(username=f"bench-{i}")[0] for i in range(50)]
    batch = [
        Conversation(owner=users[i % 50], title=f"conversation {i}") for i in range(conversations)
    ]
    Conversation.objects.bulk_create(batch, batch_size=2000)
    messages = []
    for index, conversation in enumerate(Conversation.objects.all().iterator()):
        for turn in range(per_conversation):
            assistant = turn % 2 == 1
            messages.append(
                Message(
                    conversation=conversation,
                    role="assistant" if assistant else "user",
                    content=("needle " if index % 97 == 0 else "") + f"text {turn} こんにちは",
                    status="error" if assistant and index % 13 == 0 else "complete",
                    model_name=("model-b" if index % 2 else "model-a") if assistant else "",
                    ttft_ms=100 + (index * 7 + turn) % 900 if assistant else None,
                    total_tokens=50 if assistant else None,
                )
            )
        if len(messages) >= 5000:
            Message.objects.bulk_create(messages, batch_size=5000)
            messages = []
    Message.objects.bulk_create(messages, batch_size=5000)
    answers = Message.objects.filter(role="assistant").values_list("pk", flat=True)[::50]
    Feedback.objects.bulk_create(Feedback(message_id=pk, rating=-1) for pk in answers)


def measure(client: Client, url: str, repeats: int) -> tuple[float, int]:
    times = []
    queries = 0
    for _ in range(repeats):
        reset_queries()
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(connection.queries)
    return statistics.median(times) * 1000, queries


def run(label: str, conversations: int, per: int, repeats: int) -> dict[str, tuple[float, int]]:
    seed(conversations, per)
    admin = get_user_model().objects.filter(username="bench-admin").first()
    if admin is None:
        admin = get_user_model().objects.create_superuser("bench-admin", password="x")
    client = Client()
    client.force_login(admin)
    with override_settings(DEBUG=True):  # records queries
        results = {name: measure(client, url, repeats) for name, url in PAGES.items()}
    total = Message.objects.count()
    print(f"{label}: {total} messages in {conversations} conversations", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--per-conversation", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    small = run("baseline", max(1, args.conversations // 100), args.per_conversation, args.repeats)
    large = run("large", args.conversations, args.per_conversation, args.repeats)
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    messages = args.conversations * args.per_conversation
    print(f"# Admin review pages, {engine}: {messages // 100} vs {messages} messages\n")
    print(f"| page | ms at {messages // 100} | ms at {messages} | × baseline | queries (both) |")
    print("|---|---|---|---|---|")
    for name in PAGES:
        (small_ms, small_q), (large_ms, large_q) = small[name], large[name]
        print(
            f"| {name} | {small_ms:.0f} | {large_ms:.0f} | {large_ms / small_ms:.1f} | "
            f"{small_q} / {large_q} |"
        )


if __name__ == "__main__":
    main()
