"""The site's Celery app, and Celery beat's schedule run inside the server when there is no broker
(the embedded default: ``EMBEDDED_BEAT``, started by ``inbox/asgi.py``)."""

import logging
import os
import threading
import time

from celery import Celery
from django.conf import settings
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")

logger = logging.getLogger(__name__)

app = Celery("inbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each installed app's tasks module, and those of the features that have tasks of their own.
app.autodiscover_tasks()
app.autodiscover_tasks(["inbox.connectors.email"])


def embedded_beat_start() -> threading.Thread:
    """Run Celery beat's schedule inside the server when there is no broker (the embedded default)."""
    thread = threading.Thread(target=_embedded_beat, name="embedded-beat", daemon=True)
    thread.start()
    return thread


def _embedded_beat() -> None:
    # Celery discovers tasks lazily, on first use; this thread may look before anything has used them.
    app.loader.import_default_modules()
    due = {name: time.monotonic() for name in settings.CELERY_BEAT_SCHEDULE}
    while True:
        now = time.monotonic()
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            if now < due[name]:
                continue
            due[name] = now + float(entry["schedule"])
            try:
                app.tasks[entry["task"]].apply()  # in this thread, as a worker would
            except Exception:  # noqa: BLE001 - one failing task must not stop the schedule
                logger.exception("scheduled task %s failed", entry["task"])
            finally:
                close_old_connections()
        time.sleep(min(1.0, max(0.05, min(due.values()) - time.monotonic())))
