"""CPU accounting from /proc: how busy the server process and the whole machine were.

The machine is shared (tests, browsers, other servers may run beside the bench); these numbers say
whether a variant was limited by its own process or by contention from elsewhere.
"""

from __future__ import annotations

import os
import time

TICKS = os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of stat(5)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class Meter:
    """Start it before a phase, read it after: server and bench client % of one core, machine % of all.

    With several server processes, server_pct_of_core is their sum (it may exceed 100) and
    server_pct_per_process has each one's share, in the order of pids.
    """

    def __init__(self, pids: list[int]):
        self.pids = list(pids)
        self.started = time.monotonic()
        self.servers = [process_seconds(pid) for pid in self.pids]
        self.client = _own_seconds()
        self.machine = machine_ticks()

    def read(self) -> dict:
        wall = time.monotonic() - self.started
        busy, total = machine_ticks()
        per_process = [
            100 * (process_seconds(pid) - before) / wall for pid, before in zip(self.pids, self.servers, strict=True)
        ]
        return {
            "server_pct_of_core": sum(per_process),
            "server_pct_per_process": per_process,
            "client_pct_of_core": 100 * (_own_seconds() - self.client) / wall,
            "machine_pct": 100 * (busy - self.machine[0]) / max(1, total - self.machine[1]),
            "loadavg": os.getloadavg()[0],
        }


def _own_seconds() -> float:
    """CPU of this process: the load generator competes for the same cores."""
    times = os.times()
    return times.user + times.system


def busiest_others(exclude: set[int], limit: int = 4) -> list[str]:
    """Other processes using CPU right now (a 1 s sample), to name what the bench competed with."""
    before = {pid: process_seconds(pid) for pid in _pids() if pid not in exclude}
    time.sleep(1.0)
    used = sorted(((process_seconds(pid) - t, pid) for pid, t in before.items()), reverse=True)
    return [f"{_name(pid)} ({100 * s:.0f}%)" for s, pid in used[:limit] if s >= 0.05]


def load_note(before: list[str], after: list[str]) -> str:
    """The busiest other processes sampled before and after a measurement, and the load average, for
    the report: the machine is shared, so a slow figure may be someone else's test run."""
    return (
        f"busiest other processes before: {', '.join(before) or 'none'}; after: {', '.join(after) or 'none'}; "
        f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            words = f.read().split(b"\0")
    except OSError:
        return str(pid)
    words = [w.decode(errors="replace") for w in words if w]
    # "python .venv/bin/pytest tests" says more than "python"
    return " ".join(os.path.basename(w) if i == 0 else w for i, w in enumerate(words[:3]))[:60]
