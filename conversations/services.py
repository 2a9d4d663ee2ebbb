"""Every change to conversations and messages goes through these functions."""

from __future__ import annotations

import logging
import os
import re
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename

from conversations import notifications
from conversations.models import Attachment, CannedResponse, Conversation, InboundEvent, Message, Notification
from conversations.routing import conversation_route
from customers.models import ContactIdentity
from customers.services import customer_resolve
from inbox import broadcasts
from inbox.audit import audit_record
from inbox.connectors.base import (
    AttachmentContent,
    IdentityClaim,
    InboundMessage,
    OutboundMessage,
    SendError,
    StatusUpdate,
)
from inbox.connectors.parsing import sanitize_html
from inbox.connectors.registry import connector_for
from inbox.models import Inbox

logger = logging.getLogger(__name__)

# How fresh an inbox's "last customer message" is kept.
INBOX_HEARD_FROM_EVERY = timedelta(minutes=1)
PREVIEW_LENGTH = 140

# Delivery states only move forward; a late "sent" must not undo "read".
STATUS_RANK = {
    Message.Status.QUEUED: 0,
    Message.Status.SENDING: 1,
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.READ: 4,
}


def inbound_event_record(*, inbox: Inbox, external_id: str, raw: bytes, content_type: str) -> InboundEvent | None:
    """Store a raw event durably before anything else; return None if we already have it."""
    try:
        with transaction.atomic():
            return InboundEvent.objects.create(inbox=inbox, external_id=external_id, raw=raw, content_type=content_type)
    except IntegrityError:
        return None


def inbound_event_record_failed(*, inbox: Inbox, external_id: str, raw: bytes, content_type: str, error: str) -> None:
    """Keep what arrived but could not be read, with the reason, for admins to see and replay."""
    event = inbound_event_record(inbox=inbox, external_id=external_id, raw=raw, content_type=content_type)
    if event is not None:
        InboundEvent.objects.filter(pk=event.pk).update(state=InboundEvent.State.FAILED, error=error[:5000], attempts=1)


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
            for update in updates:
                message_status_update(inbox=event.inbox, update=update)
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


def message_ingest(*, inbox: Inbox, inbound: InboundMessage, event: InboundEvent | None = None) -> Message:
    """Add one inbound message to its customer's conversation, exactly once."""
    # No savepoint of its own: inside an event's processing, the event's savepoint is the unit.
    with transaction.atomic(savepoint=False):
        # The customer's row stays locked until commit: one writer per customer at a time, so
        # concurrent first messages cannot open two conversations, nor insert one message twice.
        identity = customer_resolve(
            sender=inbound.sender,
            verified_links=inbound.verified_links,
            name=inbound.customer_name,
            claims=inbound.claims,
        )
        existing = Message.objects.filter(inbox=inbox, external_id=inbound.external_id).first()
        if existing:
            return existing
        conversation, opened = _conversation_for_inbound(inbox=inbox, identity=identity, inbound=inbound)
        message = Message.objects.create(
            conversation=conversation,
            inbox=inbox,
            identity=identity,
            # An echo of what the business wrote in the provider's own app is an agent's message.
            direction=Message.Direction.OUTBOUND if inbound.from_business else Message.Direction.INBOUND,
            sender_type=Message.Sender.AGENT if inbound.from_business else Message.Sender.CUSTOMER,
            text=inbound.text,
            full_text=inbound.full_text,
            # Enforced here, the one way in, whatever a connector did already.
            html=sanitize_html(inbound.html),
            external_id=inbound.external_id,
            source_event=event,
            status=Message.Status.SENT if inbound.from_business else Message.Status.RECEIVED,
            sent_at=inbound.sent_at,
            automatic=inbound.automatic,
        )
        if inbound.opt_out is not None:
            ContactIdentity.objects.filter(pk=identity.pk).update(
                opted_out_at=timezone.now() if inbound.opt_out else None
            )
        for address, reason in inbound.undeliverable:
            ContactIdentity.objects.filter(kind="email", address=address).update(
                undeliverable_reason=f"bounced: {reason}"[:300]
            )
        inline = _inline_image_ids(message.html)
        attachments = Attachment.objects.bulk_create(
            [
                Attachment(
                    message=message,
                    # The stored name is ours; the sender's name is only shown.
                    file=ContentFile(item.content, name=get_valid_filename(os.path.basename(item.filename)) or "file"),
                    filename=item.filename[:255],
                    content_type=item.content_type[:120],
                    size=len(item.content),
                    # Only an image the HTML shows in place counts as inline; Gmail gives every
                    # attachment a Content-ID, and those must still be listed.
                    content_id=item.content_id[:255] if item.content_id.lower() in inline else "",
                )
                for item in inbound.attachments
            ]
        )
        if any(a.content_id for a in attachments):
            message.html = _inline_images(message.html, attachments)
            Message.objects.filter(pk=message.pk).update(html=message.html)
        _conversation_touch(message, inbound=not inbound.from_business)
        if not inbound.from_business:
            _inbox_heard_from(inbox)
        conversation.inbox, conversation.customer = inbox, identity.customer
        broadcasts.message_created(message)
        if conversation.assignee_id and not inbound.from_business and not inbound.automatic:
            notifications.notify(
                user_ids=[conversation.assignee_id],
                kind=Notification.Kind.MESSAGE,
                conversation=conversation,
                message=message,
                text=f"{identity.customer.display_name}: {message.text[:120]}",
            )
        if opened and not inbound.from_business and not inbound.automatic:
            # A customer opened it: a round-robin inbox gives it to an agent now, in this transaction.
            conversation_route(conversation=conversation)
        return message


def _inbox_heard_from(inbox: Inbox) -> None:
    """Note on the inbox when someone last reached us through it (its health line), at most once a
    minute: every message writing the same inbox row would make them wait on each other."""
    now = timezone.now()
    if inbox.last_inbound_at and inbox.last_inbound_at >= now - INBOX_HEARD_FROM_EVERY:
        return  # fresh as the caller's copy knows it (a widget socket keeps one): no statement at all
    Inbox.objects.filter(pk=inbox.pk).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=now - INBOX_HEARD_FROM_EVERY)
    ).update(last_inbound_at=now)
    inbox.last_inbound_at = now


# In sanitized HTML (nh3 quotes every attribute and escapes < > inside values), the src of an <img>.
_INLINE_IMG = re.compile(r'(<img\b[^>]*?\ssrc=)"cid:([^"<>]+)"', re.I)


def _inline_image_ids(html: str) -> set[str]:
    return {match.group(2).strip("<>").lower() for match in _INLINE_IMG.finditer(html or "")}


def _inline_images(html: str, attachments: list[Attachment]) -> str:
    """Point an email's cid: images at the attachments we stored: only the src of <img> tags is
    replaced, and only by URLs of our own."""
    urls = {a.content_id.lower(): reverse("workspace:attachment", args=[a.pk]) for a in attachments if a.content_id}

    def replace(match: re.Match) -> str:
        url = urls.get(match.group(2).strip("<>").lower())
        return f'{match.group(1)}"{url}"' if url else match.group(0)

    return _INLINE_IMG.sub(replace, html)


def _conversation_for_inbound(
    *, inbox: Inbox, identity: ContactIdentity, inbound: InboundMessage
) -> tuple[Conversation, bool]:
    """The conversation a new message belongs to, and whether it was opened for it.

    In this order: the conversation whose reply token the message was addressed to, then the one it
    references (email's In-Reply-To/References), both only within this inbox and this customer: a
    stranger quoting someone else's thread starts their own. Otherwise chat and SMS continue the
    customer's latest conversation, and email, which threads by reference, starts a new one.
    A resolved conversation is reopened, unless the inbox says to start a new one, or the
    conversation is older than the inbox's reopen window; the new one then links the old.
    """
    mine = Conversation.objects.filter(inbox=inbox, customer_id=identity.customer_id).select_related("assignee")
    conversation = None
    if inbound.thread_token:
        conversation = mine.filter(reply_token=inbound.thread_token).first()
    if conversation is None and inbound.references:
        conversation = (
            mine.filter(messages__external_id__in=inbound.references[-50:]).order_by("-last_message_at", "-id").first()
        )
    if conversation is None and not connector_for(inbox).threads_by_reference:
        conversation = mine.order_by("-last_message_at", "-id").first()
    # Machines' mail (auto-replies, bounces) and what the business itself wrote elsewhere (echoes)
    # go with their thread but never reopen or restart it.
    quiet = bool(inbound.automatic) or inbound.from_business
    if conversation is not None and not quiet and not _reopens(inbox, conversation):
        previous, conversation = conversation, None
    else:
        previous = None
    if conversation is None:
        conversation = Conversation.objects.create(
            inbox=inbox,
            customer_id=identity.customer_id,
            identity=identity,
            subject=inbound.subject[:300],
            previous=previous,
            # A machine's mail (or the business's own) on a thread of its own is kept, but waits for nobody.
            status=Conversation.Status.RESOLVED if quiet else Conversation.Status.OPEN,
            last_message_at=timezone.now(),
        )
        return conversation, True
    return conversation, False


def _reopens(inbox: Inbox, conversation: Conversation) -> bool:
    """Whether a new message may go on in this conversation (always, unless it is resolved)."""
    if conversation.status != Conversation.Status.RESOLVED:
        return True
    if inbox.on_resolved_reply == Inbox.ResolvedPolicy.NEW:
        return False
    window = inbox.reopen_within_days
    return window is None or conversation.last_message_at >= timezone.now() - timedelta(days=window)


def _conversation_touch(message: Message, *, inbound: bool) -> None:
    """Record a new message on its conversation without writing back anything read earlier.

    An inbound message reopens the conversation and makes its sender the reply address (replies go
    where the customer last wrote from). The in-memory conversation is brought up to date too, for
    the event that announces the message.
    """
    conversation = message.conversation
    preview = (message.text or "").strip().replace("\n", " ")[:PREVIEW_LENGTH]
    changes = {
        "last_message_at": Greatest(F("last_message_at"), Value(message.created_at, output_field=DateTimeField())),
        "last_message_preview": preview,
        "updated_at": timezone.now(),
    }
    if inbound and not message.automatic:
        # A person wrote: the conversation needs an answer again (and wakes from a snooze); they wait
        # from their first unanswered message. Machines' mail does not reopen it.
        changes.update(
            status=Conversation.Status.OPEN,
            identity_id=message.identity_id,
            snoozed_until=None,
            waiting_since=Coalesce(F("waiting_since"), Value(message.created_at, output_field=DateTimeField())),
        )
        conversation.status, conversation.identity_id = Conversation.Status.OPEN, message.identity_id
        conversation.snoozed_until = None
        conversation.waiting_since = conversation.waiting_since or message.created_at
    elif not inbound:
        changes["waiting_since"] = None
        conversation.waiting_since = None
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    conversation.last_message_at = max(conversation.last_message_at, message.created_at)
    conversation.last_message_preview = preview


def message_reply_on_channel(
    *, conversation: Conversation, inbox_id: int, identity_id: int, author, text: str, files=()
) -> Message:
    """Queue a reply on one of the customer's channels (the caller has checked that it is theirs)."""
    identity = ContactIdentity.objects.get(pk=identity_id)
    target = _conversation_for_channel(conversation=conversation, inbox_id=inbox_id, identity=identity)
    return message_reply(conversation=target, author=author, text=text, files=files, identity=identity)


def _conversation_for_channel(*, conversation: Conversation, inbox_id: int, identity: ContactIdentity) -> Conversation:
    """Where a reply on another of the customer's channels goes: their open conversation there with
    that identity, or a new one (the customer's timeline shows them all together)."""
    if conversation.inbox_id == inbox_id:
        return conversation
    latest = (
        Conversation.objects.filter(customer_id=conversation.customer_id, inbox_id=inbox_id, identity=identity)
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-last_message_at", "-id")
        .first()
    )
    return latest or Conversation.objects.create(
        inbox_id=inbox_id,
        customer_id=conversation.customer_id,
        identity=identity,
        subject=conversation.subject,
        last_message_at=timezone.now(),
    )


def message_reply(*, conversation: Conversation, author, text: str, files=(), identity=None) -> Message:
    """Queue an agent's reply on the conversation's channel (to ``identity``, by default the one the
    conversation runs on); the send happens after commit."""
    from conversations.tasks import message_deliver_task  # tasks import this module

    text = text.strip()
    if not text:
        raise ValueError("A reply needs text.")
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            inbox_id=conversation.inbox_id,
            identity_id=identity.pk if identity else conversation.identity_id,
            direction=Message.Direction.OUTBOUND,
            sender_type=Message.Sender.AGENT,
            author=author,
            text=text,
            status=Message.Status.QUEUED,
            sent_at=timezone.now(),
        )
        Attachment.objects.bulk_create(
            [
                Attachment(
                    message=message,
                    file=upload,
                    filename=upload.name[:255],
                    content_type=(upload.content_type or "application/octet-stream")[:120],
                    size=upload.size,
                )
                for upload in files
            ]
        )
        _conversation_touch(message, inbound=False)
        broadcasts.message_created(message)
        transaction.on_commit(lambda: message_deliver_task.delay(message.pk))
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
        html=message.html,
        author_name=(author.get_full_name() or author.get_username()) if author else "",
        sent_at=message.sent_at,
        subject=_reply_subject(message.conversation.subject),
        thread_token=message.conversation.reply_token,
        automatic=message.sender_type == Message.Sender.SYSTEM,
        attachments=tuple(
            AttachmentContent(filename=a.filename, content_type=a.content_type, content=_read(a.file))
            for a in message.attachments.all()
        ),
        thread=tuple(
            Message.objects.filter(conversation_id=message.conversation_id, external_id__isnull=False)
            .exclude(pk=message.pk)
            .order_by("created_at", "id")
            .values_list("external_id", flat=True)
        ),
    )
    try:
        external_id = connector_for(message.inbox).send(outbound)
    except Exception as exc:
        if isinstance(exc, SendError) and exc.recipient_opted_out:
            ContactIdentity.objects.filter(pk=identity.pk).update(opted_out_at=timezone.now())
        if isinstance(exc, SendError) and exc.needs_reconnection:
            Inbox.objects.filter(pk=message.inbox_id).update(needs_reconnection=str(exc)[:500])
        # Back in the queue, so a retry (or the stale-message sweep) can claim it again.
        Message.objects.filter(pk=message_id, status=Message.Status.SENDING).update(status=Message.Status.QUEUED)
        raise
    if message.inbox.needs_reconnection:
        Inbox.objects.filter(pk=message.inbox_id).update(needs_reconnection="")
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


def _reply_subject(subject: str) -> str:
    subject = subject.strip()
    return subject if subject.lower().startswith("re:") or not subject else f"Re: {subject}"


def message_mark_failed(*, message_id: int, reason: str) -> None:
    _status_advance(message_id, Message.Status.FAILED, reason)


def message_retry(*, message_id: int, actor=None) -> bool:
    """Send a failed reply again, as the agent asked: queued once more, the reason cleared."""
    from conversations.tasks import message_deliver_task

    with transaction.atomic():
        # Locked, so that of two agents clicking Retry at once only one queues it (and is logged).
        failed = (
            Message.objects.select_for_update(of=("self",))
            .select_related("conversation__customer")
            .filter(pk=message_id, direction=Message.Direction.OUTBOUND, status=Message.Status.FAILED)
            .first()
        )
        retried = (
            Message.objects.filter(pk=message_id).update(
                status=Message.Status.QUEUED, status_detail="", updated_at=timezone.now()
            )
            if failed
            else 0
        )
        if retried:
            conversation = failed.conversation
            audit_record(
                actor=actor,
                action="message.retry",
                summary=f"Retried a failed reply in conversation #{conversation.pk} "
                f"({conversation.customer.display_name})",
                inbox=failed.inbox_id,
                target=failed,
                # The page links an entry to its conversation by this; the reply's text stays out.
                details={"conversation_id": conversation.pk, "reason": failed.status_detail},
            )
            broadcasts.message_updated(message_id)
            transaction.on_commit(lambda: message_deliver_task.delay(message_id))
    return bool(retried)


def canned_response_delete(*, canned: CannedResponse, actor) -> None:
    """Delete a canned response (the caller checked it is the actor's to delete), and log it."""
    whose = "personal" if canned.owner_id else "team" if canned.team_id else "shared"
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="canned.delete",
            summary=f"Deleted the {whose} canned response /{canned.shortcut}",
            target=canned,
            # A shared or team response's text is kept so that an admin can put it back; a personal
            # one's is its owner's business.
            details={"shortcut": canned.shortcut, "owner_id": canned.owner_id, "team_id": canned.team_id}
            | ({"text": canned.text} if whose != "personal" else {}),
        )
        canned.delete()


def messages_requeue_stale(*, older_than: timedelta) -> list[int]:
    """Queue again the outbound messages whose send task was lost (a broker outage, a dead worker)."""
    from conversations.tasks import message_deliver_task

    cutoff = timezone.now() - older_than
    stale = Message.objects.filter(
        direction=Message.Direction.OUTBOUND,
        status__in=[Message.Status.QUEUED, Message.Status.SENDING],
        updated_at__lt=cutoff,
    )
    ids = list(stale.values_list("pk", flat=True)[:500])
    Message.objects.filter(pk__in=ids, status=Message.Status.SENDING).update(
        status=Message.Status.QUEUED, updated_at=timezone.now()
    )
    for message_id in ids:
        message_deliver_task.delay(message_id)
    return ids


def inbound_events_retry_stale(*, older_than: timedelta) -> list[int]:
    """Process again the stored events whose processing task was lost; nothing received stays unread."""
    from conversations.tasks import inbound_event_process_task

    cutoff = timezone.now() - older_than
    ids = list(
        InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED, received_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )
    for event_id in ids:
        inbound_event_process_task.delay(event_id)
    return ids


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
        broadcasts.message_updated(message_id)
    return bool(moved)
