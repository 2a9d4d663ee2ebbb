"""Trigram indexes for workspace search (conversations/search.py), on PostgreSQL only: SQLite searches
without them. They serve LIKE '%...%': name by icontains (Django's UPPER(name) LIKE UPPER(...)), and
addresses by contains (they are stored normalized: lowercase emails, E.164 phones).

Built CONCURRENTLY, so the tables keep taking writes while the indexes build; a build that failed
leaves an invalid index behind, which the next run drops first.
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
        ("customers", "0005_customermerge"),
    ]

    operations = [
        # Not django.contrib.postgres's TrigramExtension: its reversal queries pg_extension even on SQLite,
        # and drops the extension, which something else may have come to use. Reversing leaves it.
        PostgreSQLOnly(sql="CREATE EXTENSION IF NOT EXISTS pg_trgm", reverse_sql=migrations.RunSQL.noop),
        # The expressions must stay exactly those Django's lookups produce, or the planner ignores them.
        gin_index("customer_name_trgm_idx", "customers_customer", "upper(name::text) gin_trgm_ops"),
        gin_index("identity_address_trgm_idx", "customers_contactidentity", "address gin_trgm_ops"),
    ]
