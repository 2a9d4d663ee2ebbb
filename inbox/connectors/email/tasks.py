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
    with poll_lock(inbox_id) as held:
        if not held:
            return
        try:
            inbox = Inbox.objects.filter(pk=inbox_id, is_active=True).first()
            if inbox is not None:
                imap_poll(inbox)
        except Exception:  # noqa: BLE001 - recorded on the cursor; the next tick tries again
            logger.warning("IMAP poll of inbox %s failed", inbox_id, exc_info=True)


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
