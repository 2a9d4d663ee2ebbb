"""Realtime-path benchmark against PostgreSQL, Redis and the production ASGI server.

    .venv/bin/python bench/run.py [--seconds 20] [--server daphne|uvicorn|both] [--layer pubsub|core|both]
        [--processes N]

See bench/README.md. Only talks to 127.0.0.1; every loop is bounded in time; servers are stopped and
the throwaway databases dropped whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

# Run as a script from the repo root: make `bench` (and the project) importable.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import cpu, database, floors, load, profile, report, servers  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20, help="delivery-latency phase length (s)")
    p.add_argument("--rate", type=float, default=50, help="delivery phase: total visitor messages per second")
    p.add_argument("--latency-visitors", type=int, default=10, help="widget sockets sharing that rate")
    p.add_argument("--ingest-seconds", type=float, default=10, help="sustained-ingest phase length (s)")
    p.add_argument("--ingest-visitors", type=int, default=12, help="concurrent closed-loop widget sockets")
    p.add_argument("--agents", type=int, default=5, help="agent sockets (all members of the one inbox)")
    p.add_argument("--history", type=int, default=5000, help="messages of past conversations seeded first")
    p.add_argument("--server", choices=["daphne", "uvicorn", "both"], default="both")
    p.add_argument("--layer", choices=["pubsub", "core", "both"], default="both")
    p.add_argument(
        "--processes",
        type=_positive_int,
        default=1,
        metavar="N",
        help="server processes per variant, one port each, sockets spread round-robin over them (as production"
        " runs one per core behind a proxy; events cross processes through Redis)",
    )
    p.add_argument("--floor-seconds", type=float, default=3, help="length of each floor measurement (s)")
    p.add_argument(
        "--ack-wait",
        type=float,
        default=60,
        help="delivery phase: max wait for the server to ack its backlog after sending stops (s)",
    )
    p.add_argument(
        "--drain",
        type=float,
        default=60,
        help="max wait for agents' fragments after the last ack, ending early once none arrived for 5 s;"
        " still missing = lost (s)",
    )
    p.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    p.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/13",
        help="a database number of its own: tests' cache.clear() flushes theirs",
    )
    p.add_argument("--db-name", default="inbox_bench")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server, e.g. CONN_MAX_AGE=60 (repeatable)",
    )
    p.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after each variant's measurements, sample an extra ingest run with py-spy (default: if found)",
    )
    p.add_argument("--py-spy", default=shutil.which("py-spy"), help="py-spy executable (for --profile)")
    p.add_argument(
        "--results",
        type=Path,
        default=REPO / "bench" / "RESULTS.md",
        help="markdown report to overwrite ('-' for none)",
    )
    args = p.parse_args(argv)
    _refuse_remote(args)
    return args


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _refuse_remote(args: argparse.Namespace) -> None:
    # This generates load: it must never point anywhere but this machine.
    for url in (args.postgres_url, args.redis_url):
        if urlsplit(url).hostname not in LOOPBACK:
            sys.exit(f"refusing non-loopback target {url}")


def variants(args: argparse.Namespace) -> list[tuple[str, str]]:
    names = ["daphne", "uvicorn"] if args.server == "both" else [args.server]
    layers = ["pubsub", "core"] if args.layer == "both" else [args.layer]
    return [(server, layer) for server in names for layer in layers]


def server_env(args: argparse.Namespace, db_url: str, prefix: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": args.redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "DEBUG": "true",
        # Every bench visitor comes from 127.0.0.1: the per-IP limit would refuse most messages.
        "WIDGET_RATE_LIMIT_PER_VISITOR": "1000000",
        "WIDGET_RATE_LIMIT_PER_IP": "1000000",
        "WIDGET_RATE_LIMIT_FRAMES_PER_SOCKET": "1000000",
        "CHANNEL_LAYER_PREFIX": prefix,  # keeps other people's servers and tests off our groups
        "PYTHONUNBUFFERED": "1",
    }
    for item in args.server_env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


async def measure(
    started: list[servers.Server], seed: dict, args: argparse.Namespace, db_url: str, log_dir: Path
) -> dict:
    """Agents connect once; the delivery phase, then the ingest phase, run against them. Every socket
    goes to the next server process in turn; CPU counts all of them, the profile samples the first."""
    deliveries = load.Deliveries(len(seed["cookies"]))
    ports, pids = [s.port for s in started], [s.pid for s in started]
    agents, visitors = [], []
    try:
        agents = await load.open_agents(ports, seed["cookie_name"], seed["cookies"], deliveries)
        visitors = await load.open_visitors(ports, seed["inbox_token"], args.latency_visitors)
        await load.warm_up(visitors, deliveries)
        result = {"extensions": load.negotiated_extensions(agents[0].ws), "ports": ports}
        result["probe"] = await load.probe(visitors[0], deliveries)
        meter = cpu.Meter(pids)
        result["delivery"] = await load.delivery(
            visitors,
            deliveries,
            seconds=args.seconds,
            rate=args.rate,
            ack_wait=args.ack_wait,
            drain=args.drain,
            db_url=db_url,
        )
        result["delivery"]["cpu"] = meter.read()
        writers = await load.open_visitors(ports, seed["inbox_token"], args.ingest_visitors, first=len(visitors))
        visitors += writers
        meter = cpu.Meter(pids)
        result["ingest"] = await load.ingest(
            writers, deliveries, seconds=args.ingest_seconds, ack_timeout=10, drain=args.drain, db_url=db_url
        )
        result["ingest"]["cpu"] = meter.read()
        if args.profile:
            result["profile"] = await profile.during_ingest(
                args.py_spy,
                started[0].pid,
                started[0].port,
                log_dir,
                writers,
                deliveries,
                seconds=min(args.ingest_seconds, 10),
                db_url=db_url,
            )
        result["agents_closed"] = [a.closed for a in agents if a.closed]
        return result
    finally:
        for ws in [a.ws for a in agents] + [v.ws for v in visitors]:
            await ws.close()
        for task in [a.task for a in agents] + [v.reader for v in visitors]:
            if task:
                task.cancel()


def run_variant(name: str, layer: str, args, run_id: str, template: str, log_dir: Path, seed: dict) -> dict:
    db_url = database.url_for(args.postgres_url, args.db_name)
    database.create(args.postgres_url, args.db_name, template=template)
    print(f"--- {report.variant_name(name, layer, args.processes)} layer", flush=True)
    # One prefix for all processes of a variant: that is what lets their events reach each other.
    env = server_env(args, db_url, f"bench-{run_id}-{name}-{layer}")
    started = servers.start_many(name, layer, env, log_dir, args.processes)
    try:
        result = asyncio.run(measure(started, seed, args, db_url, log_dir))
    except Exception as exc:
        tails = "\n".join(f"    server log tail ({s.log_path.name}):\n{s.log_tail()}" for s in started)
        print(f"    FAILED: {type(exc).__name__}: {exc}\n{tails}", flush=True)
        return {"failed": f"{type(exc).__name__}: {exc}"}
    finally:
        servers.stop_all(started)
    result["server_log_errors"] = sum(s.log_text().count("Traceback") for s in started)
    report.print_variant_line(result)
    return result


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.profile and not args.py_spy:
        sys.exit("--profile needs py-spy (pip install py-spy, or --py-spy PATH)")
    if args.profile is None:
        args.profile = bool(args.py_spy)
        if not args.profile:
            print("note: py-spy not found, no profile this run (pip install py-spy)", flush=True)
    run_id = uuid.uuid4().hex[:8]
    template = f"{args.db_name}_template"
    log_dir = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
    started = time.time()
    results: dict[tuple[str, str], dict] = {}
    try:
        print(f"bench {run_id}: seeding {template} (server logs in {log_dir})", flush=True)
        load_at = {"start": _machine_load()}
        database.create(args.postgres_url, template)
        seed = database.migrate_and_seed(
            database.url_for(args.postgres_url, template), args.agents, load.WIDGET_ORIGIN, args.history
        )
        database.create(args.postgres_url, args.db_name, template=template)
        floor = {"before": measure_floors(args, run_id)}
        for name, layer in variants(args):
            results[(name, layer)] = run_variant(name, layer, args, run_id, template, log_dir, seed)
        # Again at the end: the spread says how steady the machine was during the run.
        database.create(args.postgres_url, args.db_name, template=template)
        floor["after"] = measure_floors(args, run_id)
        load_at["end"] = _machine_load()
    finally:
        for name in (args.db_name, template):
            database.drop(args.postgres_url, name)
    command = shlex.join(["python", "bench/run.py", *argv])
    text = report.render(results, floor, args, command, started, {**report.machine(args), "load": load_at})
    if str(args.results) != "-":
        previous = args.results.read_text() if args.results.exists() else ""
        # first: a closed stdout (| head) must not lose the file; the other benches' figures stay
        kept = "\n\n".join(
            part
            for part in (
                report.section(previous, report.WORKSPACE_START, report.WORKSPACE_END),
                report.section(previous, report.REPORTS_START, report.REPORTS_END),
            )
            if part
        )
        text = f"{text.rstrip()}\n\n{kept}\n" if kept else text
        args.results.write_text(report.put_email_section(text, report.email_section(previous)))
    print("\n" + text)
    if str(args.results) != "-":
        print(f"wrote {args.results}")
    return 0 if all("failed" not in r for r in results.values()) else 1


def _machine_load() -> dict:
    others = cpu.busiest_others(exclude={os.getpid()})
    load = {"loadavg": os.getloadavg()[0], "others": others}
    if others:
        print(f"note: the machine is not idle: {', '.join(others)}", flush=True)
    return load


def measure_floors(args: argparse.Namespace, run_id: str) -> dict:
    db_url = database.url_for(args.postgres_url, args.db_name)
    print("floors: postgres insert+commit, postgres connect+insert+commit, redis pub/sub", flush=True)
    return {
        "pg_commit": floors.pg_commit(db_url, args.floor_seconds),
        "pg_connect_commit": floors.pg_connect_commit(db_url, args.floor_seconds),
        "redis_pubsub": floors.redis_pubsub(args.redis_url, f"bench-{run_id}", args.floor_seconds),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
