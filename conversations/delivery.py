"""The path out: a queued message handed to its connector, retried with backoff, and its delivery
status moved only forward as providers and widgets report it."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from conversations import listeners
from conversations.csat_question import survey_question
from conversations.models import Message
from customers.models import ContactIdentity
from inbox.connectors.contract import (
    AttachmentContent,
    IdentityClaim,
    OutboundMessage,
    SendError,
    StatusUpdate,
    with_detail,
)
from inbox.connectors.public_files import public_file_url
from inbox.connectors.registry import connector_for
from inbox.models import Inbox

logger = logging.getLogger(__name__)

# How an inbox's health line begins when a reply through it was given up on.
SEND_FAILED = "A reply could not be sent:"

# Delivery states only move forward; a late "sent" must not undo "read".
STATUS_RANK = {
    Message.Status.QUEUED: 0,
    Message.Status.SENDING: 1,
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.READ: 4,
}


def system_message_queue(*, conversation, text: str, identity=None) -> Message:
    """A message the system writes to the customer (an away reply, a survey), sent after commit:
    marked as the system's, so that mail says Auto-Submitted and no other robot answers it."""
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            inbox_id=conversation.inbox_id,
            identity_id=identity.pk if identity else conversation.identity_id,
            direction=Message.Direction.OUTBOUND,
            sender_type=Message.Sender.SYSTEM,
            text=text,
            subject=conversation.subject[:300],
            status=Message.Status.QUEUED,
            sent_at=timezone.now(),
        )
        listeners.message_created(message)
        transaction.on_commit(lambda: message_deliver_queue(message.pk))
    return message


def message_deliver(*, message_id: int) -> None:
    """Hand a queued message to its connector; raise SendError for the caller to retry or give up.

    The message is claimed (queued → sending) first, so that two workers holding the same task
    (a redelivery, a requeue) never both send it.
    """
    claimed = Message.objects.filter(pk=message_id, status=Message.Status.QUEUED).update(
        status=Message.Status.SENDING, updated_at=timezone.now()
    )
    if not claimed:
        return
    message = Message.objects.select_related("inbox", "identity", "author", "conversation").get(pk=message_id)
    identity, author = message.identity, message.author
    attachments = list(message.attachments.all())
    # A forward starts a thread of its own with someone else.
    thread = (
        ()
        if message.recipients.get("forward")
        else tuple(
            Message.objects.filter(conversation_id=message.conversation_id, external_id__isnull=False)
            .exclude(pk=message.pk)
            .order_by("created_at", "id")
            .values_list("external_id", flat=True)
        )
    )
    outbound = OutboundMessage(
        message_id=message.pk,
        conversation_id=message.conversation_id,
        inbox=message.inbox,
        to=IdentityClaim(kind=identity.kind, address=identity.address, display=identity.display),
        to_opted_out=identity.opted_out_at is not None,
        last_inbound_at=Message.objects.filter(
            inbox_id=message.inbox_id, identity_id=identity.pk, direction=Message.Direction.INBOUND
        )
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)
        .first(),
        text=message.text,
        html=_html_as_sent(message.html, attachments),
        author_name=(author.get_full_name() or author.get_username()) if author else "",
        sent_at=message.sent_at,
        subject=_subject(message, thread),
        recipients=message.recipients,
        thread_token=message.conversation.reply_token,
        automatic=message.sender_type == Message.Sender.SYSTEM,
        survey=survey_question(message) if message.sender_type == Message.Sender.SYSTEM else None,
        attachments=tuple(
            AttachmentContent(
                filename=a.filename,
                content_type=a.content_type,
                content=_read(a.file),
                content_id=a.content_id,
                url=public_file_url(a.pk),
            )
            for a in attachments
        ),
        thread=thread,
    )
    try:
        external_id = connector_for(message.inbox).send(outbound)
    except Exception as exc:
        if isinstance(exc, SendError) and exc.recipient_opted_out:
            ContactIdentity.objects.filter(pk=identity.pk).update(opted_out_at=timezone.now())
        if isinstance(exc, SendError) and exc.needs_reconnection:
            Inbox.objects.filter(pk=message.inbox_id).update(needs_reconnection=exc.shown[:500])
        # Back in the queue, so a retry (or the stale-message sweep) can claim it again; dated now, so
        # that the sweep does not take it for a lost one and send it a second time.
        Message.objects.filter(pk=message_id, status=Message.Status.SENDING).update(
            status=Message.Status.QUEUED, updated_at=timezone.now()
        )
        raise
    if message.inbox.needs_reconnection:
        Inbox.objects.filter(pk=message.inbox_id).update(needs_reconnection="")
    if message.inbox.last_error.startswith(SEND_FAILED):  # a check's own error stays until it passes
        Inbox.objects.filter(pk=message.inbox_id).update(last_error="", last_error_at=None)
    try:
        with transaction.atomic():
            # Sent now, by the provider's clock as near as we know it: read watermarks compare to it.
            Message.objects.filter(pk=message_id).update(
                external_id=external_id, sent_at=timezone.now(), updated_at=timezone.now()
            )
    except IntegrityError:
        # Sent all the same: keep it sent (never in "sending", which the sweep would send again).
        logger.error("message %s sent as %s, an id already taken in its inbox", message_id, external_id)
    # A fast recipient may already have reported delivery: only a step forward is taken.
    _status_advance(message_id, Message.Status.SENT, "")


def _read(file) -> bytes:
    with file.open("rb") as handle:
        return handle.read()


def _subject(message: Message, thread: tuple[str, ...]) -> str:
    """A new mail's subject as written; a reply's "Re: …" and a forward's "Fwd: …" of it."""
    subject = (message.subject or message.conversation.subject).strip()
    prefix = "Fwd:" if message.recipients.get("forward") else "Re:" if thread else ""
    if not subject or not prefix or subject.lower().startswith(prefix.lower()):
        return subject
    return f"{prefix} {subject}"


def _html_as_sent(html: str, attachments: list) -> str:
    """The stored HTML shows pasted images from our attachment URLs; the mail refers to them by cid."""
    for attachment in attachments:
        if attachment.content_id:
            url = reverse("workspace:attachment", args=[attachment.pk])
            html = html.replace(f'"{url}"', f'"cid:{attachment.content_id}"')
    return html


def message_mark_failed(*, message_id: int, reason: str, inbox_at_fault: bool = True) -> None:
    """Give up on a reply, with the reason (a sentence, then its detail): on the message, and, unless
    the trouble lies with the recipient alone, on its inbox's health line until a send through the
    inbox succeeds again."""
    if _status_advance(message_id, Message.Status.FAILED, reason) and inbox_at_fault:
        inbox_id = Message.objects.filter(pk=message_id).values_list("inbox_id", flat=True).first()
        Inbox.objects.filter(pk=inbox_id).update(
            last_error=f"{SEND_FAILED} {reason}"[:500], last_error_at=timezone.now()
        )


def backoff_seconds(retries: int) -> float:
    return min(2**retries * settings.SEND_RETRY_BACKOFF_SECONDS, 600)


# Named as it was before it moved here: the name is what the broker queues, so what a running
# version queued still finds its worker after an upgrade (tests/test_architecture.py keeps the names).
@shared_task(bind=True, max_retries=None, name="conversations.tasks.message_deliver_task")
def message_deliver_task(self, message_id: int) -> None:
    try:
        message_deliver(message_id=message_id)
    except Exception as exc:  # noqa: BLE001 - anything unexpected is worth another try, then a reason
        retryable = exc.retryable if isinstance(exc, SendError) else True
        # In-process (the embedded default) there is no worker to wait in: fail at once, with the reason.
        if retryable and self.request.retries < settings.SEND_MAX_RETRIES and not self.request.is_eager:
            countdown = backoff_seconds(self.request.retries)
            # Dated when the retry is due: the stale-message sweep leaves it to the retry, so that the
            # number of tries is the setting's, not the setting's plus the sweep's.
            Message.objects.filter(pk=message_id, status=Message.Status.QUEUED).update(
                updated_at=timezone.now() + timedelta(seconds=countdown)
            )
            raise self.retry(exc=exc, countdown=countdown) from exc
        if isinstance(exc, SendError):
            message_mark_failed(message_id=message_id, reason=exc.shown, inbox_at_fault=not exc.recipient)
        else:
            # Our own fault, not the provider's: the agent gets a sentence, the log the traceback.
            logger.exception("sending message %s failed unexpectedly", message_id)
            message_mark_failed(
                message_id=message_id, reason=with_detail("The reply could not be sent.", type(exc).__name__)
            )


# Said of a reply whose send was interrupted: it may or may not have gone out.
OUTCOME_UNKNOWN = "It is not known whether this reply went out: the sending was interrupted."


def messages_requeue_stale(
    *, older_than: timedelta, sending_older_than: timedelta = timedelta(minutes=10)
) -> list[int]:
    """Queue again the outbound messages whose send task was lost (a broker outage, a dead worker).
    A reply left "sending" (far longer than any provider's timeout) was handed to its provider when
    the worker died: it may have gone out, so it is never sent blindly again; it fails with that
    said, and an agent decides (Retry)."""
    now = timezone.now()
    outbound = Message.objects.filter(direction=Message.Direction.OUTBOUND)
    interrupted = outbound.filter(status=Message.Status.SENDING, updated_at__lt=now - sending_older_than)
    for message_id in interrupted.values_list("pk", flat=True)[:500]:
        message_mark_failed(
            message_id=message_id,
            reason=with_detail(OUTCOME_UNKNOWN, "Check with the customer before you send it again."),
            inbox_at_fault=False,
        )
    stale = outbound.filter(status=Message.Status.QUEUED, updated_at__lt=now - older_than)
    ids = list(stale.values_list("pk", flat=True)[:500])
    for message_id in ids:
        message_deliver_queue(message_id)
    return ids


def message_deliver_queue(message_id: int) -> None:
    """Queue a send; with the broker down, the reply stays queued for the sweep (never an error page)."""
    try:
        message_deliver_task.delay(message_id)
    except Exception:  # noqa: BLE001 - the broker's error, whatever its library
        logger.warning("could not queue message %s; the sweep will", message_id, exc_info=True)


def message_status_update(*, inbox: Inbox, update: StatusUpdate) -> int | None:
    """Apply a provider's delivery report; unknown ids and backward steps are ignored."""
    if update.watermark is not None:
        return _watermark_apply(inbox=inbox, update=update)
    found = Message.objects.filter(inbox=inbox, external_id=update.external_id).values_list("pk", flat=True)
    message_id = found.first()
    if message_id is None:
        logger.info("status %s for unknown message %s in inbox %s", update.status, update.external_id, inbox.pk)
        return None
    _status_advance(message_id, update.status, update.detail)
    return message_id


def _watermark_apply(*, inbox: Inbox, update: StatusUpdate) -> int:
    """Every message we sent this recipient on this inbox up to the watermark takes the status."""
    ids = Message.objects.filter(
        inbox=inbox,
        direction=Message.Direction.OUTBOUND,
        identity__kind="messenger",
        identity__address=update.recipient,
        sent_at__lte=update.watermark,
        status__in=[Message.Status.SENT, Message.Status.DELIVERED],
    ).values_list("pk", flat=True)[:500]
    return sum(_status_advance(message_id, update.status, "") for message_id in list(ids))


def message_receipts_apply(*, inbox: Inbox, visitor_id: str, message_ids: list[int], status: str) -> int:
    """Mark our messages to a chat visitor delivered or read, as their widget reports; only theirs."""
    ids = Message.objects.filter(
        pk__in=message_ids[:100],
        inbox=inbox,
        direction=Message.Direction.OUTBOUND,
        identity__kind="webchat",
        identity__address=visitor_id,
    ).values_list("pk", flat=True)
    return sum(_status_advance(message_id, status, "") for message_id in list(ids))


def _status_advance(message_id: int, status: str, detail: str) -> bool:
    """Move a message's delivery status forward in one conditional UPDATE; announce it if it moved."""
    if status == Message.Status.FAILED:
        earlier = [Message.Status.QUEUED, Message.Status.SENDING, Message.Status.SENT]
    else:
        rank = STATUS_RANK.get(status, -1)
        earlier = [known for known, known_rank in STATUS_RANK.items() if known_rank < rank]
    moved = Message.objects.filter(pk=message_id, status__in=earlier).update(
        status=status, status_detail=detail[:500], updated_at=timezone.now()
    )
    if moved:
        listeners.message_updated(message_id)
    return bool(moved)
