"""Conversation search at 100,000 messages on PostgreSQL: full-text search vs a scan.

    python bench/search.py [--messages 100000] [--queries 50] [--keep]

Needs PostgreSQL: BENCH_DATABASE_URL, else DATABASE_URL, names the server. The script
works in a database of its own on that server (`<name>_search_bench`, dropped and
created at the start, dropped at the end unless --keep), migrated as in production
(migration 0007's GIN indexes included), filled with `--messages` messages: 200 users
with 20-message conversations, one heavy user holding a fifth of all messages. The
text is drawn from a Zipf-like vocabulary (a few very common words, a long tail), so
a "common" word is in most messages and a "rare" one in a handful.

Timed, for a typical user and the heavy one: `chat.conversations.search.conversation_search` (what
GET /api/search/ runs: the title and message queries, snippets and highlights) over
`--queries` different queries of each kind (common word, rare word, prefix of a word
being typed), median and p95; the baseline in the same run is the same queries
through `search_fallback` (icontains, what SQLite gets: no index can serve it). The
plan PostgreSQL chose for each kind is printed (the index it used, if any). Markdown
on stdout.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER_URL = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL", "")
if not SERVER_URL.startswith("postgres"):
    sys.exit("bench/search.py needs PostgreSQL: set BENCH_DATABASE_URL or DATABASE_URL.")
_parts = urlsplit(SERVER_URL)
BENCH_DB = f"{_parts.path.lstrip('/') or 'postgres'}_search_bench"
os.environ["DATABASE_URL"] = urlunsplit(_parts._replace(path=f"/{BENCH_DB}"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ["DEBUG"] = "0"
os.environ["DATABASE_POOL"] = "0"

import django  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

USERS = 200
PER_CONVERSATION = 20
COMMON = ["the", "and", "to", "of", "is", "it", "you", "that", "in", "for"]
RARE_COUNT = 2000  # words that each appear in a handful of messages
MEDIUM_COUNT = 3000  # words that appear in a few hundred


def admin(statement: sql.Composable) -> None:
    """One statement on the server's maintenance database (autocommit)."""
    url = urlunsplit(_parts._replace(path="/postgres"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def recreate_database() -> None:
    name = sql.Identifier(BENCH_DB)
    admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    admin(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database() -> None:
    admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB)))


def vocabulary() -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"

    def word(length: int) -> str:
        return "".join(rng.choice(letters) for _ in range(length))

    medium = sorted({word(rng.randint(5, 9)) for _ in range(MEDIUM_COUNT)})
    rare = sorted({"q" + word(rng.randint(7, 10)) for _ in range(RARE_COUNT)})
    return COMMON, medium, rare


def text(rng: random.Random, words: int, medium: list[str], rare: list[str]) -> str:
    out = []
    for _ in range(words):
        roll = rng.random()
        if roll < 0.55:
            out.append(rng.choice(COMMON))
        elif roll < 0.9995:
            out.append(rng.choice(medium))
        else:
            out.append(rng.choice(rare))
    return " ".join(out).capitalize() + "."


def fill(total: int) -> tuple[list, object]:
    """Users, conversations and `total` messages; returns (typical users, heavy user)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from chat.models import Conversation, Message

    _common, medium, rare = vocabulary()
    rng = random.Random(42)
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"bench-{i}") for i in range(USERS)
    )
    heavy, others = users[0], users[1:]
    conversations_total = total // PER_CONVERSATION
    heavy_share = conversations_total // 5
    owners = [heavy] * heavy_share + [
        others[i % len(others)] for i in range(conversations_total - heavy_share)
    ]
    conversations = Conversation.objects.bulk_create(
        (Conversation(owner=o, title=text(rng, 4, medium, rare)[:200]) for o in owners),
        batch_size=5000,
    )
    batch: list[Message] = []
    started = time.perf_counter()
    for conversation in conversations:
        for turn in range(PER_CONVERSATION):
            assistant = turn % 2 == 1
            length = rng.randint(40, 160) if assistant else rng.randint(5, 30)
            batch.append(
                Message(
                    conversation=conversation,
                    role="assistant" if assistant else "user",
                    content=text(rng, length, medium, rare),
                )
            )
        if len(batch) >= 5000:
            Message.objects.bulk_create(batch)
            batch = []
    Message.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE chat_message")
        cursor.execute("VACUUM ANALYZE chat_conversation")
    print(
        f"filled {Message.objects.count()} messages, {len(conversations)} conversations, "
        f"{USERS} users in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return others, heavy


def queries(kind: str, user, n: int, rng: random.Random) -> list[str]:
    """`n` queries a user would type: words of their own messages (so they find something)."""
    from chat.models import Message

    _common, medium, rare = vocabulary()
    if kind == "common word":
        return [rng.choice(COMMON) + " " for _ in range(n)]
    texts = Message.objects.filter(conversation__owner=user).values_list("content", flat=True)
    own = {w.strip(".").lower() for t in texts for w in t.split()}
    if kind == "rare word":
        words = sorted(own & set(rare)) or rare
        return [rng.choice(words) + " " for _ in range(n)]
    words = sorted(own & set(medium))
    return [rng.choice(words)[:4] for _ in range(n)]  # a prefix, still being typed


def timed(fn, runs: list[tuple[object, str]]) -> tuple[float, float, float]:
    """Median and p95 in ms, and the mean number of hits."""
    times, hits = [], 0
    for user, query in runs:
        start = time.perf_counter()
        found = fn(user, query)
        times.append((time.perf_counter() - start) * 1000)
        hits += len(found)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, hits / len(runs)


def plan(user, query: str) -> str:
    """Which index the message query used (from EXPLAIN), in a few words."""
    from django.contrib.postgres.search import SearchQuery, SearchVector

    from chat.conversations import search
    from chat.models import Message

    terms = search.parse_query(query)
    ts = SearchQuery(search.tsquery(terms), search_type="raw", config="simple")
    explained = (
        Message.objects.filter(conversation__owner=user)
        .annotate(found=SearchVector("content", config="simple"))
        .filter(found=ts)
        .order_by("-created")[: search.RESULT_LIMIT]
        .explain()
    )
    scans = re.findall(r"Index (?:Only )?Scan (?:using|on) (\w+)", explained)
    used = dict.fromkeys(scans)
    return ", ".join(used) or "none (sequential scan)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    recreate_database()
    try:
        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from chat.conversations import search

        call_command("migrate", verbosity=0)
        others, heavy = fill(args.messages)
        from chat.models import Message

        heavy_messages = Message.objects.filter(conversation__owner=heavy).count()
        typical_messages = Message.objects.filter(conversation__owner=others[0]).count()

        def fulltext(user, query):
            return search.conversation_search(user=user, query=query)

        def scan(user, query):
            terms = search.parse_query(query)
            return search.search_fallback(user=user, terms=terms, limit=search.RESULT_LIMIT)

        rng = random.Random(1)
        rows = []
        for who, pick in [
            (f"typical user ({typical_messages} messages)", lambda: rng.choice(others)),
            (f"heavy user ({heavy_messages} messages)", lambda: heavy),
        ]:
            for kind in ("common word", "rare word", "prefix"):
                users = [pick() for _ in range(args.queries)]
                runs = [(u, queries(kind, u, 1, rng)[0]) for u in users]
                fulltext(*runs[0])  # warm the plan cache and the buffers
                scan(*runs[0])
                ft = timed(fulltext, runs)
                base = timed(scan, runs)
                rows.append((who, kind, ft, base, plan(runs[0][0], runs[0][1])))
        version = connection.cursor().connection.info.server_version
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database()

    total = args.messages
    print(
        f"# Conversation search, PostgreSQL {version // 10000}: {total} messages, "
        f"{args.queries} queries per row\n"
    )
    print(
        "| user | query | full-text median ms | p95 ms | hits | icontains scan median ms "
        "| p95 ms | × scan (median) | indexes in the message query plan |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for who, kind, (ft_med, ft_p95, ft_hits), (b_med, b_p95, _), used in rows:
        print(
            f"| {who} | {kind} | {ft_med:.1f} | {ft_p95:.1f} | {ft_hits:.0f} | {b_med:.1f} "
            f"| {b_p95:.1f} | {ft_med / b_med:.2f} | {used} |"
        )


if __name__ == "__main__":
    main()
