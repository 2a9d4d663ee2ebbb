"""Sample the server with py-spy while an extra (unmeasured) ingest run loads it, and say where the
time goes: how busy the one thread that runs all database work is, and on what, per message."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from bench import load

RATE_HZ = 200
SYNC_THREAD_MARK = "thread_handler (asgiref/sync.py"  # some sync_to_async job is running
DB_JOB_MARK = "thread_handler (channels/db.py"  # ... a database_sync_to_async one
APP_DIRS = ("inbox/", "conversations/", "customers/")

# Innermost matching frame wins, so a COMMIT is "COMMIT", not "ORM" or "_accept_message".
CATEGORIES = [
    ("get_new_connection", "PostgreSQL: open a connection"),
    ("close (psycopg/connection.py", "PostgreSQL: close the connection"),
    ("commit (psycopg/connection.py", "PostgreSQL: COMMIT"),
    ("execute (psycopg/cursor.py", "PostgreSQL: queries (incl. BEGIN/SAVEPOINT)"),
    ("redis/", "Redis from the sync thread (rate-limit cache)"),
    ("_send (inbox/realtime/publisher.py", "waiting for group_send on the event loop"),
    ("render_to_string", "rendering the agents' HTML fragment"),
]
OTHER = "Python: ORM, signing, JSON, Django internals"
HOP = "Channels' close_old_connections hop before each consumer event"


async def during_ingest(
    py_spy: str, pid: int, port: int, log_dir: Path, writers, deliveries, *, seconds: float, db_url: str
) -> str:
    """Samples the one server process pid (listening on port) while writers load every process:
    per-message figures divide by the messages that process acked, not by all of them."""
    raw = log_dir / f"py-spy-{pid}.txt"
    # --idle keeps samples of threads blocked on PostgreSQL/Redis: waiting is what we want to see.
    spy = await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        str(RATE_HZ),
        "--format",
        "raw",
        "--threads",
        "--idle",
        "--nonblocking",
        "--output",
        str(raw),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(1.0)  # let py-spy attach before the load starts; it ends 1 s after
    result = await load.ingest(writers, deliveries, seconds=seconds - 2.0, ack_timeout=10, drain=2, db_url=db_url)
    try:
        _, err = await asyncio.wait_for(spy.communicate(), timeout=seconds + 30)
    except TimeoutError:
        spy.kill()
        return {"text": "py-spy did not finish in time"}
    if spy.returncode or not raw.exists():
        return {"text": f"py-spy failed: {err.decode(errors='replace')[-500:]}"}
    return summarize(raw, int(seconds), result["acked_by_port"].get(port, 0), result["seconds"])


def _stacks(raw: Path):
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = stack.split(";")
            yield frames[0], frames[1:], int(count)


def _function(frame: str) -> str:
    """'name (path:line)' -> 'name (path)': one row per function, not per line."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})"


def _category(frames: list[str]) -> str:
    if not any(DB_JOB_MARK in f for f in frames):
        return HOP  # AsyncConsumer.dispatch awaits aclose_old_connections() for every event
    for frame in reversed(frames):
        for mark, label in CATEGORIES:
            if mark in frame:
                return label
    return OTHER


def summarize(raw: Path, duration: float, acked: int, load_seconds: float) -> dict:
    """Sync-thread time per message, by activity. duration: py-spy's; load_seconds: the ingest's."""
    per_thread, busy, categories, app = Counter(), Counter(), Counter(), Counter()
    for thread, frames, n in _stacks(raw):
        per_thread[thread] += n
        if any(SYNC_THREAD_MARK in f for f in frames):
            busy[thread] += n
            categories[_category(frames)] += n
            for frame in {_function(f) for f in frames if any(f"({d}" in f for d in APP_DIRS)}:
                if not frame.startswith("<"):  # lambdas and comprehensions say little
                    app[frame] += n
    if not busy or not acked:
        return {"text": "no samples of database work were taken"}
    # Samples actually taken per second (--nonblocking may fall short of RATE_HZ).
    hz = max(per_thread.values()) / duration
    busy_seconds = {t: n / hz for t, n in busy.items() if n / hz > 0.02 * load_seconds}
    total = sum(busy.values())
    ms_per_msg = 1000 * (total / hz) / acked
    lines = [
        f"{acked} messages acked in {load_seconds:.1f} s while sampling ({acked / load_seconds:.0f} msg/s). "
        "Threads running `database_sync_to_async` work: "
        + ", ".join(
            f"`{t.split(': ', 1)[-1]}` busy {100 * s / load_seconds:.0f}% of that time" for t, s in busy_seconds.items()
        )
        + f"; {ms_per_msg:.1f} ms of sync-thread time per message.",
        "",
        "| Sync-thread time by activity | share | ms per message |",
        "|---|---|---|",
    ]
    for label, n in categories.most_common():
        lines.append(f"| {label} | {100 * n / total:.0f}% | {ms_per_msg * n / total:.2f} |")
    lines += ["", "| App frame (inclusive, sync thread) | share |", "|---|---|"]
    for frame, n in app.most_common(8):
        lines.append(f"| `{frame}` | {100 * n / total:.0f}% |")
    return {
        "text": "\n".join(lines),
        "busy": {t.split(": ", 1)[-1]: s / load_seconds for t, s in busy_seconds.items()},
        "ms_per_msg": ms_per_msg,
        "by_activity": [(label, ms_per_msg * n / total) for label, n in categories.most_common()],
    }
