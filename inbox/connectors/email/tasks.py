import contextlib
import logging
import uuid

from celery import shared_task
from django.core.cache import cache

from inbox.connectors.email.imap import imap_config, imap_poll
from inbox.models import Inbox

logger = logging.getLogger(__name__)

# A poll of a big folder may take a while; a second one meanwhile would fetch the same mail.
POLL_LOCK_SECONDS = 15 * 60


# Named as it was before it moved here: the name is what the broker queues, so what a running
# version queued still finds its worker after an upgrade (tests/test_architecture.py keeps the names).
@shared_task(name="inbox.tasks.imap_poll_all")
def imap_poll_all() -> None:
    """Celery beat's tick: poll every active email inbox that reads a mailbox over IMAP."""
    for inbox in Inbox.objects.filter(kind=Inbox.Kind.EMAIL, is_active=True):
        if imap_config(inbox):
            imap_poll_task.delay(inbox.pk)


@shared_task(name="inbox.tasks.imap_poll_task")
def imap_poll_task(inbox_id: int) -> None:
    if cache.get(_backoff_key(inbox_id)):
        return  # failed lately: left alone until its wait is over
    with poll_lock(inbox_id) as held:
        if not held:
            return
        try:
            inbox = Inbox.objects.filter(pk=inbox_id, is_active=True).first()
            if inbox is not None:
                imap_poll(inbox)
        except Exception as exc:  # noqa: BLE001 - recorded on the cursor, where admins see it
            wait = _back_off(inbox_id)
            # One line, no traceback: a wrong password would otherwise fill the log every minute.
            logger.warning(
                "IMAP poll of inbox %s failed (%s: %s); next try in %d s", inbox_id, type(exc).__name__, exc, wait
            )
        else:
            cache.delete(_failures_key(inbox_id))


# After each failure in a row the mailbox waits twice as long, up to an hour, before the next try.
BACKOFF_FIRST_SECONDS = 120
BACKOFF_MAX_SECONDS = 3600


def _back_off(inbox_id: int) -> int:
    failures = cache.get(_failures_key(inbox_id), 0) + 1
    cache.set(_failures_key(inbox_id), failures, timeout=BACKOFF_MAX_SECONDS * 2)
    wait = min(BACKOFF_FIRST_SECONDS * 2 ** (failures - 1), BACKOFF_MAX_SECONDS)
    cache.set(_backoff_key(inbox_id), True, timeout=wait)
    return wait


def imap_backoff_reset(inbox_id: int) -> None:
    """Poll at the next tick: after an admin changed the settings, or a check got in, waiting out a
    backoff meant for the old settings would only delay the mail."""
    cache.delete_many([_failures_key(inbox_id), _backoff_key(inbox_id)])


def _failures_key(inbox_id: int) -> str:
    return f"imap-poll-failures:{inbox_id}"


def _backoff_key(inbox_id: int) -> str:
    return f"imap-poll-backoff:{inbox_id}"


@contextlib.contextmanager
def poll_lock(inbox_id: int):
    """One poll of a mailbox at a time; a lock that outlived its poll is not someone else's to free."""
    key, mine = f"imap-poll:{inbox_id}", uuid.uuid4().hex
    held = cache.add(key, mine, timeout=POLL_LOCK_SECONDS)
    try:
        yield held
    finally:
        if held and cache.get(key) == mine:
            cache.delete(key)
