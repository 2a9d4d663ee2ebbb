"""Start and stop the production ASGI server (Daphne or uvicorn) as a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

LAYER_BACKENDS = {
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",  # production as configured
    "core": "channels_redis.core.RedisChannelLayer",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(server: str, port: int) -> list[str]:
    if server == "daphne":
        return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "inbox.asgi:application"]
    if server == "uvicorn":
        # Channels' router has no lifespan handler; "off" spares a startup error in the log.
        return [
            str(BIN / "uvicorn"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
            "inbox.asgi:application",
        ]
    raise ValueError(server)


@dataclass
class Server:
    name: str
    layer: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM our own process group, then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)
        except ProcessLookupError:
            pass


def start_many(server: str, layer: str, env: dict[str, str], log_dir: Path, count: int) -> list[Server]:
    """count processes of one kind, one port each, as production runs one per core behind a proxy.

    Same env for all (same database, Redis and CHANNEL_LAYER_PREFIX): events cross processes only
    through the channel layer. If one fails to start, those already started are stopped.
    """
    started: list[Server] = []
    try:
        for index in range(count):
            started.append(start(server, layer, env, log_dir, index=index))
    except BaseException:
        stop_all(started)
        raise
    return started


def stop_all(handles: list[Server]) -> None:
    # Each one is tried even if an earlier stop raised: none may outlive the bench.
    errors = []
    for handle in handles:
        try:
            handle.stop()
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the others are stopped
            errors.append(exc)
    if errors:
        raise errors[0]


def start(server: str, layer: str, env: dict[str, str], log_dir: Path, timeout: float = 30, index: int = 0) -> Server:
    port = free_port()
    log_path = log_dir / f"{server}-{layer}-{index}.log"
    env = {**env, "DJANGO_SETTINGS_MODULE": "inbox.settings", "CHANNEL_LAYER_BACKEND": LAYER_BACKENDS[layer]}
    with open(log_path, "wb") as log:
        # Own session: stop() signals exactly this server and anything it forked, nothing else.
        process = subprocess.Popen(
            command(server, port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    handle = Server(server, layer, port, process, log_path)
    try:
        _wait_listening(handle, timeout)
    except BaseException:
        handle.stop()
        raise
    return handle


def _wait_listening(handle: Server, timeout: float) -> None:
    # Both servers import the application before they bind, so a listening port means ready.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            raise RuntimeError(f"{handle.name} exited with {handle.process.returncode}:\n{handle.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", handle.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{handle.name} did not listen on {handle.port} within {timeout} s:\n{handle.log_tail()}")
