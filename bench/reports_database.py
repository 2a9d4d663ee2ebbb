"""The reports bench's own database between runs: whether its seed can be reused (the meta table it
keeps beside the data), the reports' pre-aggregates made by the project's own rebuild, and what the
database holds, for the report.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from pathlib import Path

import psycopg
from psycopg import sql

from bench import workspace
from bench.reports_history import DAY

REPO = Path(__file__).resolve().parent.parent
META_TABLE = "bench_reports_meta"
# Bump when the generated data changes shape (bench/reports_history.py, reports_inboxes.py,
# reports_seed.py): a database seeded by another version is seeded again.
GENERATOR = "1"
# The code the pre-aggregates come from: when it changes, the rebuild runs again on the same seed.
FACTS_CODE = ("conversations/reports/*.py", "conversations/business_hours.py")
# The schema: a migration edited in place changes it too, so migrations are compared by content.
PROJECT_APPS = ("inbox", "conversations", "customers")
# The pre-aggregates: analysed once rebuilt (autovacuum would, on a live database), sized in the report.
FACT_TABLES = (
    "conversations_conversationfact",
    "conversations_responsefact",
    "conversations_volumefact",
    "conversations_reportday",
)


def _digest(paths) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def facts_code() -> str:
    return _digest(path for pattern in FACTS_CODE for path in REPO.glob(pattern))


def schema_digest() -> str:
    return _digest(path for app in PROJECT_APPS for path in (REPO / app / "migrations").glob("[0-9]*.py"))


def read_meta(url: str, expected: dict, max_age_days: float) -> dict | None:
    """The seed's facts if the database holds a complete seed of these sizes and this schema, recent
    enough, else None (and why, printed)."""
    stored = workspace.stored_seed(url, META_TABLE, workspace.SEED_TABLES)
    if stored is None:
        print("no complete seed found: seeding", flush=True)
        return None
    meta, counts = stored
    age = (time.time() - float(meta.get("seeded_ts", 0))) / DAY
    reason = ""
    if meta.get("complete") != "yes" or meta.get("generator") != GENERATOR:
        reason = "the seed is incomplete or from another version of this bench"
    elif counts != expected:
        reason = f"it holds {counts}, not {expected}"
    elif meta.get("schema") != schema_digest():
        reason = "the project's migrations changed since it was seeded"
    elif age > max_age_days:
        reason = f"the seed is {age:.0f} days old (more than --max-age-days {max_age_days:g}): its year has moved"
    if reason:
        print(f"not reusing the database: {reason}; seeding again", flush=True)
        return None
    return meta


def write_meta(url: str, values: dict) -> None:
    with psycopg.connect(url) as conn:
        table = sql.Identifier(META_TABLE)
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, value text NOT NULL)").format(table))
        for key, value in values.items():
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = %s"
                ).format(table),
                (key, str(value), str(value)),
            )


def rebuild_facts(args) -> dict:
    """The project's own rebuild makes the pre-aggregates from the history just seeded, timed: what
    `manage.py reports_rebuild` runs, the facts (`facts_rebuild`), then, where the project keeps one,
    the daily rollup made from them (`report_days_rebuild`)."""
    from django.db import connection

    from conversations.reports.rebuild import facts_rebuild

    print("rebuilding the reports' pre-aggregates with facts_rebuild() (several minutes)", flush=True)
    started = time.perf_counter()
    done = facts_rebuild()
    seconds = time.perf_counter() - started
    print(f"  {done:,} conversations in {seconds:.0f} s ({done / seconds:.0f} conversations/s)", flush=True)
    values = {
        "rebuild_seconds": f"{seconds:.1f}",
        "rebuild_conversations": done,
        "rebuild_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "days_seconds": "",
        "days_rebuilt": "",
    }
    days = optional("conversations.reports.days", "report_days_rebuild")
    if days is not None:
        print("  then the daily rollup with report_days_rebuild()", flush=True)
        started = time.perf_counter()
        pairs = days()
        values["days_seconds"], values["days_rebuilt"] = f"{time.perf_counter() - started:.1f}", pairs
        print(f"  {pairs:,} days of inboxes in {values['days_seconds']} s", flush=True)
    analyzed = time.perf_counter()
    with connection.cursor() as cursor:  # autovacuum would, on a live database
        for table in FACT_TABLES:
            if table_exists(table):
                cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"  VACUUM ANALYZE of the pre-aggregates: {time.perf_counter() - analyzed:.0f} s", flush=True)
    values["facts_code"] = facts_code()
    write_meta(args.postgres_url, values)
    return values


def optional(module_name: str, attribute: str):
    """A function of the project's that this bench uses where it exists (the reports' code moves)."""
    try:
        return getattr(importlib.import_module(module_name), attribute, None)
    except ImportError:
        return None


def table_exists(table: str) -> bool:
    from django.db import connection

    return table in connection.introspection.table_names()


def data_shape(url: str) -> dict:
    """What the database holds, and what of it the 12-month range covers."""
    with psycopg.connect(url, autocommit=True) as conn:

        def one(statement: str, params=None):
            return conn.execute(statement, params).fetchone()

        shape = {
            "customers": one("SELECT count(*) FROM customers_customer")[0],
            "customers_several": one(
                "SELECT count(*) FROM (SELECT customer_id FROM conversations_conversation GROUP BY customer_id"
                " HAVING count(DISTINCT inbox_id) > 1) s"
            )[0],
            "conversations": one("SELECT count(*) FROM conversations_conversation")[0],
            "statuses": dict(
                conn.execute("SELECT status, count(*) FROM conversations_conversation GROUP BY 1 ORDER BY 2 DESC")
            ),
            "assigned": one("SELECT count(*) FROM conversations_conversation WHERE assignee_id IS NOT NULL")[0],
            "with_team": one("SELECT count(*) FROM conversations_conversation WHERE team_id IS NOT NULL")[0],
            "messages": one("SELECT count(*) FROM conversations_message")[0],
            "message_kinds": dict(
                conn.execute(
                    "SELECT CASE WHEN rating IS NOT NULL THEN 'survey answers' WHEN automatic <> '' THEN"
                    " 'machines'' mail' WHEN sender_type = 'system' THEN 'away replies and survey questions'"
                    " WHEN direction = 'in' THEN 'customers' WHEN direction = 'out' THEN 'agents'' replies'"
                    " ELSE 'notes' END, count(*) FROM conversations_message GROUP BY 1 ORDER BY 2 DESC"
                )
            ),
            "first_message": one("SELECT min(created_at) FROM conversations_message")[0],
            "changes": dict(
                conn.execute(
                    "SELECT CASE WHEN before = 'resolved' THEN 'reopened' ELSE after END, count(*)"
                    " FROM conversations_statuschange GROUP BY 1 ORDER BY 2 DESC"
                )
            ),
            "clocks": dict(
                conn.execute(
                    "SELECT coalesce(nullif(outcome, ''), 'running'), count(*) FROM conversations_slaclock"
                    " GROUP BY 1 ORDER BY 2 DESC"
                )
            ),
            "clock_conversations": one("SELECT count(DISTINCT conversation_id) FROM conversations_slaclock")[0],
            "surveys": dict(conn.execute("SELECT state, count(*) FROM conversations_csatsurvey GROUP BY 1 ORDER BY 2")),
            "labels": one("SELECT count(*) FROM conversations_conversation_labels")[0],
            "facts": {
                table: one(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
                for table in FACT_TABLES
                if one("SELECT to_regclass(%s)", (table,))[0]
            },
            "opened_in_range": one(
                "SELECT count(*) FROM conversations_conversation WHERE created_at >= current_date - 364"
            )[0],
        }
    return shape
