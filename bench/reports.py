"""The Reports page over a year of a large workspace: 100,000 conversations and 1,000,000 messages,
its server time beside the bare SQL of the same statements, measured in the same run.

    .venv/bin/python bench/reports.py [--reseed] [--rebuild] [--requests 200] [--no-http]

Seeds a database of its own (inbox_bench_reports), once: the workspace bench's directory (50 agents, ten
inboxes of four kinds, five teams, ten labels; bench/workspace.py's `seed_directory`) with business hours,
away replies, satisfaction surveys and service-level policies set on some inboxes, an admin, 50,000
customers (most with several conversations, on several channels) and 13 months of history: 100,000
conversations and 1,000,000 messages (customers' messages, agents' replies, notes, away replies,
machines' mail, survey questions and answers), the status changes (resolved, reopened, pending,
snoozed), the service-level clocks and their events, and the surveys. Rows are generated in Python
(seeded: every seed is the same data), loaded with COPY while secondary indexes and foreign keys are
dropped, which are then rebuilt, then VACUUM ANALYZE. The reports' pre-aggregates are then made by the
project's own rebuild, as `manage.py reports_rebuild` makes them (`facts_rebuild()`, then the daily
rollup where the project keeps one), timed. A later run reuses the database while it holds a complete
seed of the right size, made with the same migrations (compared by content), less than --max-age-days
old (the range is "the last 12 months" from today); it runs the rebuild again when the reports' code
changed, or with --rebuild. --reseed drops the database and seeds it again.

Measured in-process with Django's test Client as an admin (DEBUG off, psycopg pool, Redis cache), one
request at a time, the whole request and response (template included): `/reports/?range=12m&tz=UTC`,
the same in business hours, filtered by a channel and by a team, and, where the page first works out
the rollup's dirty days, with each inbox's latest day marked dirty before each request (untimed), as
live traffic leaves them between two of beat's sweeps; p50/p99/max after a warm-up, and the requests a
full garbage collection fell in. Floor: every SELECT one request runs (captured), executed bare in
order on a plain psycopg connection, planned each time as the page's are (no prepared statements),
every row read: p50/p99 of the sum. Then a split of the request's time (the statements inside each
step of the view and of the reports' code, the Python around them, the template, the rest), EXPLAIN
ANALYZE of each variant's heaviest statements, and the same requests over HTTP to a real Daphne process
(--no-http skips it). Writes its own section of bench/RESULTS.md. Only talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

# The command only: the bench's parts are bench/reports_*.py, each named for what it does (bench/README.md
# lists them).

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import cpu, database, report, workspace  # noqa: E402
from bench.reports_database import data_shape, facts_code, read_meta, rebuild_facts  # noqa: E402
from bench.reports_markdown import render  # noqa: E402
from bench.reports_measure import measure, measure_http  # noqa: E402
from bench.reports_seed import seed, sizes  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_REPORTS_URL", "postgres://postgres@127.0.0.1:5432/inbox_bench_reports"),
        help="the bench's own database: created if missing, kept between runs",
    )
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    p.add_argument("--reseed", action="store_true", help="drop the database and seed it again")
    p.add_argument("--rebuild", action="store_true", help="run the facts' rebuild again on a reused seed")
    p.add_argument("--max-age-days", type=float, default=14, help="seed again when the seed is older")
    p.add_argument("--requests", type=int, default=200, help="measured requests per variant (after the warm-up)")
    p.add_argument("--warmup", type=int, default=10, help="unmeasured requests per variant first")
    p.add_argument("--floor-runs", type=int, default=200, help="bare replays of a request's statements")
    p.add_argument("--split-requests", type=int, default=50, help="requests per variant for the time split")
    p.add_argument("--http", action=argparse.BooleanOptionalAction, default=True, help="also over HTTP to Daphne")
    p.add_argument("--http-requests", type=int, default=100, help="measured HTTP requests per variant")
    p.add_argument("--scale", type=float, default=1.0, help="shrink customers, conversations and messages")
    p.add_argument("--output", type=Path, default=REPO / "bench" / "RESULTS.md", help="'-' writes no file")
    args = p.parse_args(argv)
    for url in (args.postgres_url, args.redis_url):
        if urlsplit(url).hostname not in LOOPBACK:
            sys.exit(f"refusing non-loopback target {url}")
    if args.requests < 100 or args.floor_runs < 100:
        print("note: fewer than 100 requests make the p99 the second-slowest request or worse", flush=True)
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    expected = sizes(args.scale)
    started = time.perf_counter()
    name = urlsplit(args.postgres_url).path.lstrip("/")
    meta = None
    if workspace.db_exists(args.postgres_url) and not args.reseed:
        meta = read_meta(args.postgres_url, expected, args.max_age_days)
    if meta is None:
        print(f"creating database {name}", flush=True)
        database.create(args.postgres_url, name)  # drops it first
    workspace.setup_django(args)
    if meta is None:
        meta = seed(args, expected)
    else:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        print(f"reusing the seed of {meta['seeded_at']} (it took {meta['seed_seconds']} s)", flush=True)
    if args.rebuild or meta.get("facts_code") != facts_code():
        if "facts_code" in meta:
            print("the reports' code changed since the last rebuild, or --rebuild: rebuilding", flush=True)
        meta.update(rebuild_facts(args))
    else:
        print(f"reusing the facts rebuilt {meta['rebuild_at']} in {meta['rebuild_seconds']} s", flush=True)
    shape = data_shape(args.postgres_url)
    before = cpu.busiest_others(exclude={os.getpid()})
    results = measure(args, meta)
    after = cpu.busiest_others(exclude={os.getpid()})
    results["load"] = cpu.load_note(before, after)
    http_results = None
    if args.http:
        print("the same pages over HTTP from Daphne", flush=True)
        try:
            http_results = measure_http(args, meta, results["session_cookie"])
        except Exception as exc:  # noqa: BLE001 - optional figure: say why and go on
            print(f"  skipped: {exc}", flush=True)
    command = " ".join(["python bench/reports.py", *argv])
    text = render(args, meta, shape, results, http_results, command)
    report.publish(args.output, text, report.REPORTS_START, report.REPORTS_END)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
