"""GIN indexes for the conversation search (chat/search.py), on PostgreSQL only.

The indexed expressions are exactly the ones Django's SearchVector(<field>,
config="simple") writes, so the search's WHERE clause can use them. Built
CONCURRENTLY (writes go on while they build), hence a non-atomic migration. Other
databases get nothing: their search is a substring scan.
"""

from django.db import migrations

INDEXES = [
    ("chat_message_content_search", "chat_message", "content"),
    ("chat_conversation_title_search", "chat_conversation", "title"),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
            f"USING gin (to_tsvector('simple'::regconfig, COALESCE({column}, '')))"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("chat", "0006_message_tree_models_presets"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes),
    ]
