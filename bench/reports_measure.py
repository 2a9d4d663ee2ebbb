"""Measuring the Reports page: in-process with Django's test Client (each request's time, and the full
garbage collections inside it), the SQL floor (a request's SELECTs replayed bare on a plain psycopg
connection), the heaviest statements' plans, a dirty day worked out again, the split of the request
(bench/reports_split.py), and the same pages over HTTP from a real Daphne process.
"""

from __future__ import annotations

import gc
import html
import http.client
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from bench import servers
from bench.reports_database import optional, table_exists
from bench.reports_pages import get, nothing, variants
from bench.reports_split import Split
from bench.stats import summarize

TARGET_P99_MS = 150.0


class FullCollections:
    """The time Python's full (generation 2) garbage collections take while it watches."""

    def __init__(self):
        self.seconds, self._started = 0.0, None

    def __call__(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None


def timed(client, path: str, n: int, warmup: int, prepare=nothing) -> tuple[list[float], list[float]]:
    """Each request's time, and the time full garbage collections took inside it."""
    for _ in range(warmup):
        prepare()
        get(client, path)
    seconds, collected = [], []
    watch = FullCollections()
    gc.callbacks.append(watch)
    try:
        for _ in range(n):
            prepare()
            watch.seconds = 0.0
            started = time.perf_counter()
            get(client, path)
            seconds.append(time.perf_counter() - started)
            collected.append(watch.seconds)
    finally:
        gc.callbacks.remove(watch)
    return seconds, collected


def captured(client, path: str, prepare=nothing) -> tuple[list[str], str]:
    """The statements one request runs, as sent (Django binds parameters client-side), and its page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    prepare()
    with CaptureQueriesContext(connection) as queries:
        body = get(client, path).content.decode()
    return [q["sql"] for q in queries.captured_queries], body


def is_select(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("SELECT", "WITH"))


def bare(url: str, statements: list[str], runs: int) -> tuple[list[float], list[list[float]]]:
    """Each run executes the statements in order on a plain psycopg connection and reads every row;
    planned every time, as the page's are (Django's client-side binding prepares nothing)."""
    totals, each = [], [[] for _ in statements]
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn, conn.cursor() as cursor:
        for _ in range(runs):
            run_started = time.perf_counter()
            for i, statement in enumerate(statements):
                started = time.perf_counter()
                cursor.execute(statement)
                if cursor.description:
                    cursor.fetchall()
                each[i].append(time.perf_counter() - started)
            totals.append(time.perf_counter() - run_started)
    return totals, each


def explain(url: str, statement: str) -> tuple[str, float, float]:
    """EXPLAIN (ANALYZE, BUFFERS) of a statement, with its planning and execution times (ms)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(2):  # warm
            conn.execute(statement).fetchall()
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement).fetchall())
    planning = float(re.search(r"Planning Time: ([\d.]+)", plan).group(1))
    execution = float(re.search(r"Execution Time: ([\d.]+)", plan).group(1))
    return plan, planning, execution


def dirty_day_cost(runs: int = 20) -> dict | None:
    """What a page pays per dirty day before it reads the rollup (none are dirty in this bench, which
    writes nothing while it measures): the busiest recent days of each inbox worked out again."""
    recompute = optional("conversations.reports.days", "report_day_recompute")
    if recompute is None or not table_exists("conversations_reportday"):
        return None
    from conversations.models import ReportDay

    days = list(ReportDay.objects.order_by("-day", "-messages_in").values_list("day", "inbox_id")[:runs])
    seconds = []
    for day, inbox_id in days:
        started = time.perf_counter()
        recompute(day=day, inbox_id=inbox_id)
        seconds.append(time.perf_counter() - started)
    return summarize(seconds) if seconds else None


FIGURE = re.compile(r'data-figure="(\w+)">([^<]*)<')


def measure(args, meta: dict) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin = get_user_model().objects.get(pk=int(meta["admin"]))
    client = Client()
    client.force_login(admin)
    results = {"variants": []}
    get(client, variants(meta)[0].path)  # everything a request loads is loaded
    gc.collect()
    # As the server does once the application is loaded (inbox/asgi.py): what lives as long as the
    # process leaves the collector's reach.
    gc.freeze()
    started = time.perf_counter()
    gc.collect()
    results["heap"] = {"objects": len(gc.get_objects()), "full_ms": (time.perf_counter() - started) * 1000}
    for variant in variants(meta):
        key, label, path, prepare = variant.key, variant.label, variant.path, variant.prepare
        print(f"- {label}: {path}", flush=True)
        seconds, collected = timed(client, path, args.requests, args.warmup, prepare)
        latency = summarize(seconds)
        full_gc = [c for c in collected if c > 0]
        gc_note = {
            "requests": len(full_gc),
            "p50_ms": summarize(full_gc)["p50_ms"] if full_gc else 0.0,
            "p99_without_ms": summarize([s - c for s, c in zip(seconds, collected, strict=True)])["p99_ms"],
        }
        statements, body = captured(client, path, prepare)
        selects = [s for s in statements if is_select(s)]
        totals, each = bare(args.postgres_url, selects, args.floor_runs)
        floor = summarize(totals)
        per_statement = sorted(
            ((summarize(times)["p50_ms"], statement) for times, statement in zip(each, selects, strict=True)),
            reverse=True,
        )
        split = Split().measure(client, path, args.split_requests, prepare)
        figures = {name: html.unescape(value) for name, value in FIGURE.findall(body)}
        result = {
            "key": key,
            "label": label,
            "path": path,
            "latency": latency,
            "gc": gc_note,
            "queries": len(statements),
            "others": [s for s in statements if not is_select(s)],
            "selects": selects,
            "floor": floor,
            "per_statement": per_statement,
            "split": split,
            "figures": figures,
            "bytes": len(body.encode()),
            "met": latency["p99_ms"] <= TARGET_P99_MS,
        }
        results["variants"].append(result)
        print(
            f"    p50 {latency['p50_ms']:.1f} ms, p99 {latency['p99_ms']:.1f} ms, max {latency['max_ms']:.1f} ms; "
            f"{len(statements)} queries; SQL floor p50 {floor['p50_ms']:.1f} ms, p99 {floor['p99_ms']:.1f} ms; "
            f"{'met' if result['met'] else 'MISSED'} (p99 ≤ {TARGET_P99_MS:.0f} ms); opened {figures.get('opened')},"
            f" messages {figures.get('messages')}",
            flush=True,
        )
    print("EXPLAIN ANALYZE of each variant's heaviest statements; a dirty day worked out again", flush=True)
    seen, results["plans"] = set(), []
    for v in results["variants"]:
        for _ms, statement in v["per_statement"][:2]:
            if statement not in seen:
                seen.add(statement)
                results["plans"].append((v["label"], *explain(args.postgres_url, statement), statement))
    results["dirty_day"] = dirty_day_cost()
    results["session_cookie"] = client.cookies
    return results


def measure_http(args, meta: dict, cookies) -> dict | None:
    """The same pages from a real Daphne process, over HTTP/1.1 keep-alive, one request at a time."""
    from django.conf import settings

    log_dir = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    env = {
        **os.environ,
        "DATABASE_URL": args.postgres_url,
        "REDIS_URL": args.redis_url,
        "DEBUG": "false",
        "SECRET_KEY": os.environ["SECRET_KEY"],  # the session the bench signed in with must read back
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "ERROR",
    }
    cookie = f"{settings.SESSION_COOKIE_NAME}={cookies[settings.SESSION_COOKIE_NAME].value}"
    server = servers.start("daphne", "pubsub", env, log_dir)
    results = {}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for variant in variants(meta):
            key, label, path = variant.key, variant.label, variant.path

            def fetch(path=path):
                conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"Daphne answered {response.status} to {path}")

            for _ in range(args.warmup):
                variant.prepare()
                fetch()
            seconds = []
            for _ in range(args.http_requests):
                variant.prepare()
                started = time.perf_counter()
                fetch()
                seconds.append(time.perf_counter() - started)
            results[key] = summarize(seconds)
            print(f"  daphne {label}: p50 {results[key]['p50_ms']:.1f} ms, p99 {results[key]['p99_ms']:.1f} ms")
        conn.close()
    finally:
        server.stop()
        shutil.rmtree(log_dir, ignore_errors=True)
    return results
