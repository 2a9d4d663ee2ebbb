from datetime import timedelta

from celery import shared_task
from django.conf import settings

from conversations.actions import conversations_wake_snoozed
from conversations.models import InboundEvent
from conversations.routing import conversations_reroute_offline
from conversations.services import (
    inbound_event_process,
    inbound_events_retry_stale,
    message_deliver,
    message_mark_failed,
    messages_requeue_stale,
)
from inbox.connectors.base import SendError


def backoff_seconds(retries: int) -> float:
    return min(2**retries * settings.SEND_RETRY_BACKOFF_SECONDS, 600)


@shared_task(bind=True, max_retries=None)
def message_deliver_task(self, message_id: int) -> None:
    try:
        message_deliver(message_id=message_id)
    except Exception as exc:  # noqa: BLE001 - anything unexpected is worth another try, then a reason
        retryable = exc.retryable if isinstance(exc, SendError) else True
        # In-process (the embedded default) there is no worker to wait in: fail at once, with the reason.
        if retryable and self.request.retries < settings.SEND_MAX_RETRIES and not self.request.is_eager:
            raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
        message_mark_failed(message_id=message_id, reason=str(exc) or type(exc).__name__)


@shared_task
def inbound_event_process_task(event_id: int) -> None:
    event = InboundEvent.objects.select_related("inbox").filter(pk=event_id).first()
    if event is not None and event.state == InboundEvent.State.RECEIVED:
        inbound_event_process(event=event)


@shared_task
def sweep_stale_work() -> None:
    """Pick up what a lost task left behind: replies still queued, events never processed."""
    messages_requeue_stale(older_than=timedelta(minutes=2))
    inbound_events_retry_stale(older_than=timedelta(minutes=5))


@shared_task
def wake_snoozed() -> None:
    conversations_wake_snoozed()


@shared_task
def reroute_offline() -> None:
    conversations_reroute_offline()
