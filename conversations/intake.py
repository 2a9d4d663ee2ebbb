"""The path in: what a provider sent is stored raw first, then turned into messages and status changes.

Webhooks record and answer at once, and a task processes the event (``inbound_event_process_task``);
the chat widget records and processes in one go (``inbound_event_receive``). An event that fails stays
stored, marked failed with its reason, for admins to replay.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from conversations.away import away_reply
from conversations.delivery import message_status_update
from conversations.ingest import message_ingest
from conversations.models import InboundEvent, Message
from inbox.audit.record import audit_record
from inbox.connectors.registry import connector_for
from inbox.models import Inbox

logger = logging.getLogger(__name__)

# A dropped or refused database connection: the event is fine, the moment is not.
TRANSIENT = (OperationalError, InterfaceError)


def inbound_event_record(*, inbox: Inbox, external_id: str, raw: bytes, content_type: str) -> InboundEvent | None:
    """Store a raw event durably before anything else; return None if we already have it."""
    try:
        with transaction.atomic():
            return InboundEvent.objects.create(inbox=inbox, external_id=external_id, raw=raw, content_type=content_type)
    except IntegrityError:
        return None


def inbound_event_unprocessed(*, inbox: Inbox, external_id: str) -> InboundEvent | None:
    """The stored event with this id, if it is still waiting to be processed."""
    return InboundEvent.objects.filter(inbox=inbox, external_id=external_id, state=InboundEvent.State.RECEIVED).first()


def inbound_event_record_failed(*, inbox: Inbox, external_id: str, raw: bytes, content_type: str, error: str) -> None:
    """Keep what arrived but could not be read, with the reason, for admins to see and replay."""
    event = inbound_event_record(inbox=inbox, external_id=external_id, raw=raw, content_type=content_type)
    if event is not None:
        InboundEvent.objects.filter(pk=event.pk).update(state=InboundEvent.State.FAILED, error=error[:5000], attempts=1)


def _away_reply_best_effort(message: Message) -> None:
    """The away reply is a courtesy: whatever goes wrong with it, the customer's message stays stored."""
    try:
        with transaction.atomic():
            away_reply(message)
    except Exception:  # noqa: BLE001 - logged; the message itself is what must not be lost
        logger.exception("the away reply to message %s failed", message.pk)


def inbound_event_process(*, event: InboundEvent) -> list[Message]:
    """Turn a stored raw event into messages and status changes; on failure keep it, marked failed."""
    connector = connector_for(event.inbox)
    raw = bytes(event.raw)
    try:
        # Parsing may fetch media or profiles over the network: never while holding a transaction.
        inbounds = connector.parse(inbox=event.inbox, raw=raw, content_type=event.content_type)
        updates = connector.parse_status(inbox=event.inbox, raw=raw, content_type=event.content_type)
        with transaction.atomic():
            messages = [message_ingest(inbox=event.inbox, inbound=inbound, event=event) for inbound in inbounds]
            for message in messages:
                _away_reply_best_effort(message)
            for update in updates:
                message_status_update(inbox=event.inbox, update=update)
    except TRANSIENT:
        # The database or the broker went away (a restart): nothing about the event is wrong. It
        # stays "received", for the task's retry or the sweep, and is never marked failed for it.
        raise
    except Exception as exc:  # noqa: BLE001 - whatever broke, the event must stay replayable
        logger.warning("inbound event %s failed: %s", event.pk, exc, exc_info=True)
        InboundEvent.objects.filter(pk=event.pk).update(
            state=InboundEvent.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000], attempts=F("attempts") + 1
        )
        event.state = InboundEvent.State.FAILED
        return []
    InboundEvent.objects.filter(pk=event.pk).update(
        state=InboundEvent.State.PROCESSED, error="", processed_at=timezone.now(), attempts=F("attempts") + 1
    )
    event.state = InboundEvent.State.PROCESSED
    return messages


# Named as it was before it moved here: the name is what the broker queues, so what a running
# version queued still finds its worker after an upgrade (tests/test_architecture.py keeps the names).
@shared_task(
    name="conversations.tasks.inbound_event_process_task",
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=30,
    max_retries=None,
)
def inbound_event_process_task(event_id: int) -> None:
    event = InboundEvent.objects.select_related("inbox").filter(pk=event_id).first()
    if event is not None and event.state == InboundEvent.State.RECEIVED:
        inbound_event_process(event=event)


def inbound_event_queue(event_id: int) -> bool:
    """Queue an event's processing; with the broker down, leave it to the sweep (it is stored)."""
    try:
        inbound_event_process_task.delay(event_id)
    except Exception:  # noqa: BLE001 - the broker's error, whatever its library: the sweep retries
        logger.warning("could not queue inbound event %s; the sweep will", event_id, exc_info=True)
        return False
    return True


def inbound_events_replay(*, events: list[InboundEvent], actor) -> int:
    """Process stored events again (an admin's replay, once a cause is fixed), each audited; return
    how many still fail."""
    for event in events:
        inbound_event_process(event=event)
        audit_record(
            actor=actor,
            action="event.replay",
            summary=f"replayed inbound event {event.pk} of “{event.inbox.name}”",
            inbox=event.inbox,
            target=event,
        )
    return sum(event.state == InboundEvent.State.FAILED for event in events)


def inbound_events_archive(*, events: list[InboundEvent], actor) -> int:
    """Set failed events aside, each audited; nothing is deleted, and a replay still works."""
    archived = 0
    for event in events:
        if InboundEvent.objects.filter(pk=event.pk, state=InboundEvent.State.FAILED).update(
            state=InboundEvent.State.ARCHIVED
        ):
            archived += 1
            audit_record(
                actor=actor,
                action="event.archive",
                summary=f"archived failed inbound event {event.pk} of “{event.inbox.name}”",
                inbox=event.inbox,
                target=event,
                details={"error": event.error[:500]},
            )
    return archived


def inbound_event_receive(*, inbox: Inbox, external_id: str, raw: bytes, content_type: str) -> list[Message]:
    """Record and process at once, in one transaction (the chat widget's path; webhooks answer first
    and process from a task). A failure in processing rolls back to after the record, so the raw
    event is committed all the same, marked failed."""
    with transaction.atomic():
        event = inbound_event_record(inbox=inbox, external_id=external_id, raw=raw, content_type=content_type)
        if event is None:
            # A retry of something we have: answer with what it produced.
            return list(Message.objects.filter(inbox=inbox, external_id=external_id))
        return inbound_event_process(event=event)


def inbound_events_retry_stale(*, older_than: timedelta) -> list[int]:
    """Process again the stored events whose processing task was lost; nothing received stays unread."""
    cutoff = timezone.now() - older_than
    ids = list(
        InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED, received_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )
    for event_id in ids:
        inbound_event_queue(event_id)
    return ids
