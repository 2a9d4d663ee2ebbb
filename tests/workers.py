"""A real Celery worker process on the test database, with Redis as the broker."""

import os
import subprocess
import sys
from contextlib import contextmanager

import pytest
from django.conf import settings

from inbox.celery import app as celery_app
from tests.helpers import ROOT, database_url

needs_broker = pytest.mark.skipif(
    not settings.REDIS_URL,
    reason="WORKER TEST SKIPPED: needs REDIS_URL (the embedded default has no broker); `make test` runs it on Redis",
)


@contextmanager
def celery_worker(**env):
    """Start a worker (with extra environment, e.g. where mail goes); tasks queued meanwhile go to it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "inbox", "worker", "--pool", "solo", "-l", "warning"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(), "CELERY_TASK_ALWAYS_EAGER": "false", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    celery_app.conf.task_always_eager = False
    try:
        yield process
    finally:
        celery_app.conf.task_always_eager = True
        process.terminate()
        process.wait(timeout=20)
