"""Email parse + ingest per message over the shared corpus, against PostgreSQL (and Redis for the
channel layer), beside the floors measured in the same run.

    .venv/bin/python bench/email_ingest.py [--rounds 5]      # or: make bench-email

Each round feeds every corpus file once through the path `manage.py email ingest` takes (the
Message-ID key, the raw event stored, parsing, customer, conversation, message, attachments
written, commit, the broadcast), with a fresh Message-ID per round so nothing is deduplicated away.
Floors: a bare `email.message_from_bytes(raw, policy=policy.default)` of the same bytes, a bare
PostgreSQL INSERT + COMMIT, a bare Redis PUBLISH → subscriber round trip.
Writes its section of bench/RESULTS.md. Only talks to 127.0.0.1; the throwaway database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from email import message_from_bytes, policy
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import database, floors, report  # noqa: E402
from bench.stats import summarize  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "email"
TARGET_MEDIAN_MS = 5.0


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="passes over the corpus")
    p.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    )
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    p.add_argument("--output", type=Path, default=REPO / "bench" / "RESULTS.md")
    return p.parse_args(argv)


def corpus() -> list[tuple[str, bytes]]:
    files = sorted(CORPUS.glob("*/*.eml"))
    if not files:
        raise SystemExit(f"no corpus at {CORPUS}: the bench reads ../shared/corpus/email/")
    return [(f"{path.parent.name}/{path.name}", path.read_bytes()) for path in files]


def with_fresh_id(raw: bytes, round_no: int, index: int) -> bytes:
    # A Message-ID header first wins over the mail's own: one new mail per round, same content.
    return f"Message-ID: <bench-{round_no}-{index}-{uuid.uuid4().hex[:8]}@bench.invalid>\r\n".encode() + raw


def measure_floor_parse(mails: list[bytes]) -> list[float]:
    timings = []
    for raw in mails:
        start = time.perf_counter()
        message_from_bytes(raw, policy=policy.default)
        timings.append(time.perf_counter() - start)
    return timings


def measure_ingest(mails: list[bytes]) -> tuple[list[float], list[float], int, float]:
    """Each mail through the full path; also parse_mail alone, to split parsing from storing."""
    from django.db import connection

    from conversations.intake import inbound_event_receive
    from conversations.models import Message
    from inbox.connectors.email.intake import MAIL_CONTENT_TYPE, mail_event_id
    from inbox.connectors.email.parsing import parse_mail
    from inbox.models import Inbox

    inbox = Inbox.objects.create(
        kind=Inbox.Kind.EMAIL, name="Bench mail", settings={"address": "support@bench.example"}
    )
    parse_only, full = [], []
    for raw in mails:
        start = time.perf_counter()
        parse_mail(raw)
        parse_only.append(time.perf_counter() - start)
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        for raw in mails:
            start = time.perf_counter()
            inbound_event_receive(
                inbox=inbox, external_id=mail_event_id(inbox, raw), raw=raw, content_type=MAIL_CONTENT_TYPE
            )
            full.append(time.perf_counter() - start)
    return parse_only, full, Message.objects.filter(inbox=inbox).count(), queries[0] / len(mails)


def ms(summary: dict, key: str) -> str:
    return f"{summary[key]:.2f}"


def render(args, files, results, command) -> str:
    floor_parse, parse_only, full, pg, redis_rt, stored, expected, queries = results
    median = full["p50_ms"]
    verdict = "met" if median <= TARGET_MEDIAN_MS else "MISSED"
    lines = [
        report.EMAIL_START,
        "## Email parse + ingest (bench/email_ingest.py)",
        "",
        f"Command: `{command}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, git {_git_head()}  ",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL "
        f"{database.server_version(args.postgres_url)}  ",
        f"Corpus: {len(files)} files of ../shared/corpus/email/ ({sum(len(r) for _, r in files) // 1024} KiB), "
        f"{args.rounds} rounds: {expected} mails; {stored} messages stored.",
        "",
        "| per message | n | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
        f"| floor: bare `message_from_bytes` | {floor_parse['n']} | {ms(floor_parse, 'p50_ms')} | "
        f"{ms(floor_parse, 'p99_ms')} | {ms(floor_parse, 'max_ms')} |",
        f"| `parse_mail` alone (charsets, HTML, quotes, attachments) | {parse_only['n']} | "
        f"{ms(parse_only, 'p50_ms')} | {ms(parse_only, 'p99_ms')} | {ms(parse_only, 'max_ms')} |",
        f"| **parse + ingest** (stored, committed, broadcast) | {full['n']} | **{ms(full, 'p50_ms')}** | "
        f"{ms(full, 'p99_ms')} | {ms(full, 'max_ms')} |",
        f"| floor: PostgreSQL INSERT + COMMIT | {pg['n']} | {ms(pg, 'p50_ms')} | {ms(pg, 'p99_ms')} | "
        f"{ms(pg, 'max_ms')} |",
        f"| floor: Redis PUBLISH → subscriber | {redis_rt['n']} | {ms(redis_rt, 'p50_ms')} | "
        f"{ms(redis_rt, 'p99_ms')} | {ms(redis_rt, 'max_ms')} |",
        "",
        f"Target: median parse + ingest ≤ {TARGET_MEDIAN_MS:.0f} ms per message: **{verdict}** ({median:.2f} ms).",
        "",
        f"Database statements per mail: {queries:.1f}, each a round trip of about the INSERT floor above.",
        "",
        "Where the time goes (a cProfile of the same path, 2026-11-23): parsing in full about a third",
        "(the standard library's header objects under `policy.default` are most of it; the bare parse",
        "floor alone is a third of the 5 ms budget), the database statements about a third, and",
        "rendering the HTML fragment that announces the message about a sixth. The p99 is the corpus's",
        "large mails (attachments of 1-2 MB, written to storage). In production this runs in a Celery",
        "worker, off every request path. Reaching 5 ms needs fewer round trips (the event, message and",
        "conversation writes in one statement) and a leaner header pass, not a faster machine.",
        report.EMAIL_END,
    ]
    return "\n".join(lines)


def _git_head() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main(argv=None) -> int:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    files = corpus()
    name = f"bench_email_{uuid.uuid4().hex[:8]}"
    db_url = database.url_for(args.postgres_url, name)
    media = tempfile.mkdtemp(prefix="bench-email-media-")
    database.create(args.postgres_url, name)
    try:
        env = {**os.environ, "DATABASE_URL": db_url, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "inbox.settings"}
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO, env=env, capture_output=True, text=True
        )
        if done.returncode:
            raise SystemExit(f"migrate failed:\n{done.stdout}\n{done.stderr}")
        os.environ.update(
            DATABASE_URL=db_url, REDIS_URL=args.redis_url, DEBUG="true", MEDIA_ROOT=media, LOG_LEVEL="ERROR"
        )
        os.environ["DJANGO_SETTINGS_MODULE"] = "inbox.settings"
        import django

        django.setup()
        mails = [with_fresh_id(raw, r, i) for r in range(args.rounds) for i, (_, raw) in enumerate(files)]
        floor_parse = summarize(measure_floor_parse(mails))
        parse_only, full, stored, queries = measure_ingest(mails)
        from django.db import connections

        connections.close_all()
        pg = floors.pg_commit(db_url)
        redis_rt = floors.redis_pubsub(args.redis_url, prefix=f"bench-email-{name}")
        results = (floor_parse, summarize(parse_only), summarize(full), pg, redis_rt, stored, len(mails), queries)
        text = render(args, files, results, "python bench/email_ingest.py " + " ".join(sys.argv[1:]))
        previous = args.output.read_text() if args.output.exists() else ""
        args.output.write_text(report.put_email_section(previous, text))
        print(text)
        print(f"wrote its section of {args.output}")
        return 0
    finally:
        database.drop(args.postgres_url, name)
        shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
