"""Full-text search for workspace search (conversations/search.py), on PostgreSQL only: SQLite searches
without it (icontains).

Messages get a stored tsvector column, ``search_vector``, that the model does not declare: SQLite
could not compute it, and only search.py reads it. Stored rather than an expression index because
parsing text costs 35-110 µs a message, and the plan that checks the newest messages one by one (the
fast one for a common word) re-parsed every row: 300-600 ms on 1M messages, against ~1 µs a row to
test a stored vector. Adding it rewrites the table once (about two minutes per million messages,
writes to messages wait meanwhile). Only the first 100,000 characters count: a tsvector over 1 MB
would make the insert fail.

Indexes are built CONCURRENTLY, so the tables keep taking writes while they build; a build that
failed leaves an invalid index behind, which the next run drops first.
"""

from django.db import migrations


class PostgreSQLOnly(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def gin_index(name: str, table: str, expression: str) -> PostgreSQLOnly:
    return PostgreSQLOnly(
        sql=[
            f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
            f"CREATE INDEX CONCURRENTLY {name} ON {table} USING gin ({expression})",
        ],
        reverse_sql=[f"DROP INDEX CONCURRENTLY IF EXISTS {name}"],
    )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY refuses to run in a transaction

    dependencies = [
        ("conversations", "0004_workspace"),
    ]

    operations = [
        PostgreSQLOnly(
            sql=[
                "ALTER TABLE conversations_message ADD COLUMN IF NOT EXISTS search_vector tsvector"
                " GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, left(text, 100000))) STORED"
            ],
            reverse_sql=["ALTER TABLE conversations_message DROP COLUMN IF EXISTS search_vector"],
        ),
        # Ten times the default statistics: estimates for a word missing from the most-common list fall
        # to half the least common one's frequency, which at the default was 0.3% of 1M messages for
        # any rare word; believing it, PostgreSQL read the messages newest first, all 1M (a second),
        # instead of asking the index.
        PostgreSQLOnly(
            sql=["ALTER TABLE conversations_message ALTER COLUMN search_vector SET STATISTICS 1000"],
            reverse_sql=migrations.RunSQL.noop,
        ),
        gin_index("message_search_idx", "conversations_message", "search_vector"),
        # Subjects are short: an expression index, spelled exactly as search.py filters.
        gin_index(
            "conv_subject_fts_idx",
            "conversations_conversation",
            "to_tsvector('simple'::regconfig, subject)",
        ),
        # Without statistics on the new vectors the planner guesses, and guesses the slow plan.
        PostgreSQLOnly(
            sql=["ANALYZE conversations_message", "ANALYZE conversations_conversation"],
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
