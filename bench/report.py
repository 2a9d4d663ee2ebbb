"""The results table (stdout and bench/RESULTS.md) and the machine it was measured on."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import redis

from bench import database

TARGET_P50_MS = 10
TARGET_P99_MS = 30
TARGET_INGEST = 500


def machine(args) -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        (int(line.split()[1]) for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), 0
    )
    client = redis.Redis.from_url(args.redis_url)
    try:
        redis_version = client.info("server")["redis_version"]
    finally:
        client.close()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": database.server_version(args.postgres_url),
        "postgres_fsync": _pg_setting(args, "fsync")
        + " / synchronous_commit "
        + _pg_setting(args, "synchronous_commit"),
        "redis": redis_version,
        "packages": ", ".join(
            f"{p} {_version(p)}"
            for p in ("Django", "channels", "channels-redis", "daphne", "uvicorn", "websockets", "psycopg")
        ),
    }


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def _pg_setting(args, name: str) -> str:
    import psycopg

    with psycopg.connect(database.url_for(args.postgres_url, "postgres")) as conn:
        return conn.execute(f"SHOW {name}").fetchone()[0]


def _git_head() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=database.REPO)
    return done.stdout.strip() or "unknown"


def _ms(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.1f}"


def _load_text(load: dict) -> str:
    parts = []
    for when in ("start", "end"):
        if when in load:
            others = ", ".join(load[when]["others"]) or "nothing else busy"
            parts.append(f"at the {when}, 1-min load average {load[when]['loadavg']:.2f}, {others}")
    return "; ".join(parts) + " (CPU rows below show it during each phase)."


def variant_name(server: str, layer: str, processes: int) -> str:
    """'daphne + pubsub', or 'daphne ×2 + pubsub' when several server processes share the load."""
    return f"{server}{f' ×{processes}' if processes > 1 else ''} + {layer}"


def _server_cpu(c: dict) -> str:
    """Sum over the server processes, then each one's share: '94 (47+47)'."""
    per = c.get("server_pct_per_process", [])
    split = f" ({'+'.join(f'{v:.0f}' for v in per)})" if len(per) > 1 else ""
    return f"{c['server_pct_of_core']:.0f}{split}"


def _cpu(c: dict) -> str:
    return f"{_server_cpu(c)} / {c['client_pct_of_core']:.0f} / {c['machine_pct']:.0f}"


def _judge(value: float, ok: bool) -> str:
    return f"{value} ✅" if ok else f"{value} ❌"


def print_variant_line(r: dict) -> None:
    d, i = r["delivery"], r["ingest"]
    print(
        f"    idle p50 {_ms(r['probe']['latency']['p50_ms'])} ms; at {d['send_rate']:.0f} msg/s: delivery p50 "
        f"{_ms(d['latency']['p50_ms'])} ms, p99 {_ms(d['latency']['p99_ms'])} ms, lost {d['lost']}/{d['expected']}; "
        f"ingest {i['rate']:.0f} msg/s ({i['acked']} acked, {i['db_messages']} rows); "
        f"server CPU % of a core, delivery · ingest: {_server_cpu(d['cpu'])} · {_server_cpu(i['cpu'])}",
        flush=True,
    )


def _cells(results: dict, pick) -> list[str]:
    cells = []
    for r in results.values():
        try:
            cells.append("failed" if "failed" in r else pick(r))
        except (KeyError, TypeError):
            cells.append("–")
    return cells


def _latency_ok(r: dict, key: str, limit: float) -> bool:
    # Percentiles over what arrived only: with losses they flatter, so losses fail the target too.
    return r["delivery"]["latency"][key] <= limit and r["delivery"]["lost"] == 0


def table(results: dict, floor: dict, processes: int) -> str:
    names = [variant_name(server, layer, processes) for server, layer in results]
    pg, pgc, rd = floor["pg_commit"], floor["pg_connect_commit"], floor["redis_pubsub"]
    rows = [
        ("Delivery p50 at 2 msg/s, one message at a time (ms)", lambda r: _ms(r["probe"]["latency"]["p50_ms"]), "", ""),
        (
            "Delivery p50, visitor send → agent fragment (ms)",
            lambda r: _judge(_ms(r["delivery"]["latency"]["p50_ms"]), _latency_ok(r, "p50_ms", TARGET_P50_MS)),
            f"Redis pub/sub RTT p50 {_ms(rd['p50_ms'])}",
            f"≤ {TARGET_P50_MS}",
        ),
        (
            "Delivery p99 (ms)",
            lambda r: _judge(_ms(r["delivery"]["latency"]["p99_ms"]), _latency_ok(r, "p99_ms", TARGET_P99_MS)),
            f"Redis pub/sub RTT p99 {_ms(rd['p99_ms'])}",
            f"≤ {TARGET_P99_MS}",
        ),
        ("Delivery max (ms)", lambda r: _ms(r["delivery"]["latency"]["max_ms"]), f"Redis max {_ms(rd['max_ms'])}", ""),
        (
            "Deliveries received / expected (lost)",
            lambda r: _judge(
                f"{r['delivery']['received']}/{r['delivery']['expected']} ({r['delivery']['lost']})",
                r["delivery"]["lost"] == 0,
            ),
            "",
            "lost = 0",
        ),
        (
            "Offered rate (msg/s) · acked · DB rows",
            lambda r: f"{r['delivery']['send_rate']:.1f} · {r['delivery']['acked']} · {r['delivery']['db_messages']}",
            "",
            "",
        ),
        (
            "Ack p50 / p99 at that rate (ms) · last ack after sending stopped (s)",
            lambda r: f"{_ms(r['delivery']['ack']['p50_ms'])} / {_ms(r['delivery']['ack']['p99_ms'])} · "
            f"{r['delivery']['backlog_s']:.1f}",
            f"PG commit p50 {_ms(pg['p50_ms'])}",
            "",
        ),
        (
            "Sustained ingest (msg/s acked)",
            lambda r: _judge(f"{r['ingest']['rate']:.0f}", r["ingest"]["rate"] >= TARGET_INGEST),
            f"PG insert+commit {pg['ops_per_s']:.0f}/s; with connect {pgc['ops_per_s']:.0f}/s",
            f"≥ {TARGET_INGEST}",
        ),
        (
            "Ingest acked = DB messages = DB events",
            lambda r: _judge(
                f"{r['ingest']['acked']} = {r['ingest']['db_messages']} = {r['ingest']['db_events']}",
                r["ingest"]["acked"] == r["ingest"]["db_messages"] == r["ingest"]["db_events"]
                and not r["ingest"]["timeouts"]
                and not r["ingest"]["refused"],
            ),
            "",
            "equal",
        ),
        (
            "Ingest ack p50 / p99 (ms)",
            lambda r: f"{_ms(r['ingest']['ack']['p50_ms'])} / {_ms(r['ingest']['ack']['p99_ms'])}",
            "",
            "",
        ),
        (
            "Agent deliveries during ingest: lost · p50 / p99 (ms)",
            lambda r: f"{r['ingest']['deliveries_lost']} · {_ms(r['ingest']['delivery_latency']['p50_ms'])} / "
            f"{_ms(r['ingest']['delivery_latency']['p99_ms'])}",
            "",
            "",
        ),
        (
            "Errors · server tracebacks · agent sockets closed",
            lambda r: f"{sum(r['delivery']['errors'].values()) + sum(r['ingest']['errors'].values())} · "
            f"{r['server_log_errors']} · {len(r['agents_closed'])}",
            "",
            "0 · 0 · 0",
        ),
        (
            "CPU, delivery · ingest: server"
            + (f" (sum of {processes} processes, then each)" if processes > 1 else "")
            + " / bench client (% of one core) / machine (% of all cores)",
            lambda r: f"{_cpu(r['delivery']['cpu'])} · {_cpu(r['ingest']['cpu'])}",
            "",
            "",
        ),
        ("WebSocket compression negotiated", lambda r: r["extensions"].split(";")[0], "", ""),
    ]
    out = ["| Metric | " + " | ".join(names) + " | Floor | Target |", "|---|" + "---|" * len(names) + "---|---|"]
    for label, pick, floor_text, target in rows:
        out.append(f"| {label} | " + " | ".join(_cells(results, pick)) + f" | {floor_text} | {target} |")
    return "\n".join(out)


def floors_table(floor: dict) -> str:
    rows = [
        ("PostgreSQL INSERT + COMMIT, one open connection", "pg_commit"),
        ("PostgreSQL connect + INSERT + COMMIT + close", "pg_connect_commit"),
        ("Redis PUBLISH → subscriber receives", "redis_pubsub"),
    ]
    out = ["| Floor (before / after the servers ran) | ops/s | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|"]
    for label, key in rows:
        b, a = floor["before"][key], floor.get("after", floor["before"])[key]
        out.append(
            f"| {label} | {b['ops_per_s']:.0f} / {a['ops_per_s']:.0f} | {_ms(b['p50_ms'])} / {_ms(a['p50_ms'])} | "
            f"{_ms(b['p99_ms'])} / {_ms(a['p99_ms'])} | {_ms(b['max_ms'])} / {_ms(a['max_ms'])} |"
        )
    return "\n".join(out)


def misses(results: dict, processes: int) -> list[str]:
    """One line per target missed, per variant: said plainly, not hidden in the table."""
    lines = []
    for (server, layer), r in results.items():
        name = variant_name(server, layer, processes)
        if "failed" in r:
            lines.append(f"- {name}: run failed: {r['failed']}")
            continue
        d, ing = r["delivery"], r["ingest"]
        lat = d["latency"]
        if lat["p50_ms"] > TARGET_P50_MS:
            lines.append(f"- {name}: delivery p50 {lat['p50_ms']:.1f} ms misses ≤ {TARGET_P50_MS} ms")
        if lat["p99_ms"] > TARGET_P99_MS:
            lines.append(f"- {name}: delivery p99 {lat['p99_ms']:.1f} ms misses ≤ {TARGET_P99_MS} ms")
        if d["lost"]:
            lines.append(
                f"- {name}: {d['lost']} of {d['expected']} agent deliveries never arrived (none came for 5 s "
                "after the last ack; percentiles cover only those that did)"
            )
        if d["db_messages"] != d["sent"]:
            lines.append(f"- {name}: delivery phase sent {d['sent']} messages but stored {d['db_messages']}")
        if ing["rate"] < TARGET_INGEST:
            lines.append(f"- {name}: ingest {ing['rate']:.0f} msg/s misses ≥ {TARGET_INGEST} msg/s")
        if not ing["acked"] == ing["db_messages"] == ing["db_events"]:
            lines.append(
                f"- {name}: acked {ing['acked']} ≠ DB messages {ing['db_messages']} / events {ing['db_events']}"
            )
    return lines or ["- none: every target met in this run"]


def bottleneck(results: dict, floor: dict, processes: int) -> list[str]:
    """What limits the server, from this run's own numbers (probe, CPU, profile)."""
    ok = {k: r for k, r in results.items() if "failed" not in r}
    if not ok:
        return ["No variant completed."]
    lines = []
    probe = max(r["probe"]["latency"]["p50_ms"] for r in ok.values())
    if probe > TARGET_P50_MS:
        lines.append(
            f"- Service time: even one message at a time on an idle server takes up to {probe:.0f} ms (p50) from "
            f"the visitor's send to the agents' fragment, against a {TARGET_P50_MS} ms target and a Redis "
            f"round trip of {floor['before']['redis_pubsub']['p50_ms']:.1f} ms: the target is missed before any "
            "queueing, inside the ingest path."
        )
    best = max(r["ingest"]["rate"] for r in ok.values())
    if best < 50:
        lines.append(
            f"- Capacity: at most {best:.0f} msg/s in the ingest phase, below the 50 msg/s the delivery phase "
            "offers: there the server falls behind, a backlog builds, and delivery latency becomes the time to "
            "work through it (seconds), whichever server or layer."
        )
    for (server, layer), r in ok.items():
        c = r["ingest"]["cpu"]
        what = f"server process {c['server_pct_of_core']:.0f}% of one core"
        if processes > 1:
            what = f"{processes} server processes {_server_cpu(c)}% of one core in total"
        lines.append(
            f"- {variant_name(server, layer, processes)}, ingest: {what}, bench "
            f"client {c['client_pct_of_core']:.0f}%, machine {c['machine_pct']:.0f}% of all cores."
        )
        if processes > 1:
            lines.append(f"  Acks per server process (by port): {_acked_by_port(r)}.")
        p = r.get("profile") or {}
        if p.get("busy"):
            threads = ", ".join(f"`{name}` {100 * share:.0f}% busy" for name, share in p["busy"].items())
            top = "; ".join(f"{label} {ms:.1f} ms" for label, ms in p["by_activity"][:4])
            which = " (first process only)" if processes > 1 else ""
            lines.append(
                f"  Profile{which}: threads doing database work: {threads}; {p['ms_per_msg']:.1f} ms of their "
                f"time per message. Largest parts: {top}."
            )
    profiles = [r["profile"] for r in ok.values() if (r.get("profile") or {}).get("busy")]
    if profiles and all(len(p["busy"]) == 1 and max(p["busy"].values()) > 0.7 for p in profiles):
        lines += [
            "",
            "One thread does all the database work. Channels' `database_sync_to_async` is thread-sensitive: "
            "every call in a process — each widget message's whole ingest (rate limits, ~17 queries, 3 commits, "
            "a new PostgreSQL connection when CONN_MAX_AGE=0, the fragment render, the publish) — runs on one "
            "shared executor thread, one call after another. And `AsyncConsumer.dispatch` (channels 4.3) awaits "
            "`aclose_old_connections()`, another hop onto that same thread, before every event of every "
            "consumer, so each agent's fragment queues behind the ingest work: once that thread is saturated, "
            "delivery latency is its queue length, whatever the layer or server.",
        ]
    elif not profiles:
        lines.append("- No profile this run: install py-spy (or pass --py-spy PATH) to see where the time goes.")
    return lines


def _acked_by_port(r: dict) -> str:
    # Round-robin spreads sockets evenly; a lopsided split means one process was slower.
    return ", ".join(f"{port}: {r['ingest']['acked_by_port'].get(port, 0)}" for port in r["ports"])


def comparison(results: dict) -> list[str]:
    """Layer against layer and server against server, on the figures that separate them."""
    ok = {k: r for k, r in results.items() if "failed" not in r}
    lines, lost_by_layer = [], {}
    for layer in ("pubsub", "core"):
        runs = [r for (_, lay), r in ok.items() if lay == layer]
        if runs:
            lost = lost_by_layer[layer] = sum(r["delivery"]["lost"] + r["ingest"]["deliveries_lost"] for r in runs)
            expected = sum(r["delivery"]["expected"] + r["ingest"]["deliveries_expected"] for r in runs)
            probe = ", ".join(f"{r['probe']['latency']['p50_ms']:.0f}" for r in runs)
            lines.append(
                f"- {layer} layer: {lost} of {expected} agent deliveries lost under backlog; "
                f"unloaded delivery p50 {probe} ms."
            )
    for server in ("daphne", "uvicorn"):
        runs = [r for (srv, _), r in ok.items() if srv == server]
        if runs:
            rates = ", ".join(f"{r['ingest']['rate']:.0f}" for r in runs)
            probe = ", ".join(f"{r['probe']['latency']['p50_ms']:.0f}" for r in runs)
            lines.append(f"- {server}: ingest {rates} msg/s; unloaded delivery p50 {probe} ms.")
    if lost_by_layer.get("core") and not lost_by_layer.get("pubsub"):
        lines.append(
            "- The core layer's losses are silent: channels_redis' core layer keeps each consumer's undelivered "
            "events in a `BoundedQueue` of `capacity` (100) that drops the oldest when full, and agents' "
            "consumers fall behind here (see Bottleneck). The pub/sub layer's per-consumer queue is unbounded: "
            "nothing lost, memory grows instead."
        )
    if lines:
        lines.append(
            "- Differences between servers smaller than the run-to-run spread (compare the floors before/after "
            "and the CPU row) are noise on this shared machine."
        )
    return lines


def _processes_text(processes: int) -> str:
    if processes == 1:
        return "one process per variant"
    return (
        f"{processes} processes per variant on {processes} ports (same env, database, Redis and channel-layer "
        "prefix), agent and widget sockets spread round-robin over them as a proxy would; events reach agents "
        "on the other processes through the Redis channel layer"
    )


def _profile_text(args) -> str:
    if not args.profile:
        return "none (py-spy not used)"
    return f"py-spy at {args.py_spy}" + (" (first server process only)" if args.processes > 1 else "")


def render(results: dict, floor: dict, args, command: str, started: float, box: dict) -> str:
    when = dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Realtime benchmark results",
        "",
        f"- Date: {when} (git {_git_head()}; bench/ may be uncommitted)",
        f"- Machine: {box['nproc']} cores, {box['cpu']}, {box['ram']} RAM, Linux {box['kernel']}",
        f"- Python {box['python']}, PostgreSQL {box['postgresql']} (fsync {box['postgres_fsync']}), "
        f"Redis {box['redis']}",
        f"- Packages: {box['packages']}",
        f"- Command: `{command}` (from the repo root, with `.venv/bin/python`)",
        f"- Load: {args.agents} agent sockets on one webchat inbox seeded with {args.history} past messages; "
        f"delivery phase {args.rate:g} msg/s for {args.seconds:g} s over {args.latency_visitors} widget sockets "
        f"(open loop, then up to {args.ack_wait:g} s for acks and {args.drain:g} s for fragments, less if none "
        "arrives for 5 s); ingest phase "
        f"{args.ingest_visitors} widget sockets in closed loop for {args.ingest_seconds:g} s. Server, PostgreSQL, "
        "Redis and the load generator share the machine.",
        f"- Server: {_processes_text(args.processes)}, env DEBUG=true, CELERY_TASK_ALWAYS_EAGER=true, "
        "widget rate limits 1000000"
        + (f", {', '.join(args.server_env)}" if args.server_env else ", CONN_MAX_AGE unset (= 0)"),
        f"- Profile: {_profile_text(args)}",
        f"- Other load on the machine: {_load_text(box['load'])}",
        "",
        "## Results",
        "",
        table(results, floor["before"], args.processes),
        "",
        "## Floors (same run, same machine)",
        "",
        floors_table(floor),
        "",
        "## Targets missed",
        "",
        *misses(results, args.processes),
        "",
        "## Layers and servers compared",
        "",
        *comparison(results),
        "",
        "## Bottleneck",
        "",
        *bottleneck(results, floor, args.processes),
    ]
    profiles = [(k, r["profile"]["text"]) for k, r in results.items() if r.get("profile")]
    if profiles:
        parts += ["", "## Where the server spends its time during ingest (py-spy, extra unmeasured ingest run)", ""]
        for (server, layer), text in profiles:
            parts += [f"### {variant_name(server, layer, args.processes)}", "", text, ""]
    return "\n".join(parts).rstrip() + "\n"


EMAIL_START, EMAIL_END = "<!-- email-bench:start -->", "<!-- email-bench:end -->"


WORKSPACE_START, WORKSPACE_END = "<!-- workspace-bench:start -->", "<!-- workspace-bench:end -->"


REPORTS_START, REPORTS_END = "<!-- reports-bench:start -->", "<!-- reports-bench:end -->"


def section(document: str, start_marker: str, end_marker: str) -> str:
    """One bench's part of RESULTS.md (between its markers), or ""."""
    start, end = document.find(start_marker), document.find(end_marker)
    return document[start : end + len(end_marker)] if 0 <= start < end else ""


def write_section(path: Path, section: str, start_marker: str, end_marker: str) -> None:
    """Replace one bench's section of RESULTS.md, or put it before the email bench's (kept last)."""
    document = path.read_text() if path.exists() else ""
    start, end = document.find(start_marker), document.find(end_marker)
    if 0 <= start < end:
        document = document[:start] + section + document[end + len(end_marker) :]
    elif (email := document.find(EMAIL_START)) >= 0:
        document = document[:email] + section + "\n\n" + document[email:]
    else:
        document = f"{document.rstrip()}\n\n{section}\n"
    path.write_text(document)


def publish(output, section: str, start_marker: str, end_marker: str) -> None:
    """Print a bench's section and write it into RESULTS.md at `output` ('-' writes no file)."""
    if str(output) != "-":
        write_section(output, section, start_marker, end_marker)
    print("\n" + section)
    if str(output) != "-":
        print(f"wrote its section of {output}")


def plan_details(summary: str, statement: str, plan: str) -> list[str]:
    """A statement and its plan, folded under a one-line summary (HTML allowed): Markdown lines."""
    fenced = ["```sql", statement, "```", "", "```", plan, "```"]
    return [f"<details><summary>{summary}</summary>", "", *fenced, "", "</details>"]


def email_section(document: str) -> str:
    return section(document, EMAIL_START, EMAIL_END)


def put_email_section(document: str, section: str) -> str:
    """Each bench rewrites only its own part of RESULTS.md: the email figures go last."""
    old = email_section(document)
    rest = document.replace(old, "").rstrip() if old else document.rstrip()
    return f"{rest}\n\n{section}\n" if section else f"{rest}\n"
