"""One inbound message into its customer's conversation, exactly once: threading, reopening,
attachments, the customer's identity, notifications and routing."""

from __future__ import annotations

import os
import re
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename

from conversations import csat, listeners, notifications, sla
from conversations.models import Attachment, Conversation, InboundEvent, Message, Notification
from conversations.reports import facts
from conversations.routing import conversation_route
from conversations.status import status_recorded
from customers.models import ContactIdentity
from customers.services import customer_resolve
from inbox.connectors.contract import InboundMessage
from inbox.connectors.parsing import sanitize_html
from inbox.connectors.registry import connector_for
from inbox.models import Inbox

# How fresh an inbox's "last customer message" is kept.
INBOX_HEARD_FROM_EVERY = timedelta(minutes=1)

PREVIEW_LENGTH = 140


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
        existing = (
            Message.objects.filter(inbox=inbox, external_id=inbound.external_id)
            .select_related("conversation__customer", "conversation__inbox", "conversation__assignee")
            .first()
        )
        if existing:
            # A re-run of an event whose message was stored but never marked processed (a crash in
            # between): its announcement may never have gone out, so it goes again (pages that
            # showed it already keep one copy).
            listeners.message_created(existing)
            return existing
        answered = csat.survey_answered_by(inbox=inbox, identity=identity, inbound=inbound)
        if answered is not None:
            return _survey_answer_ingest(*answered, inbox=inbox, identity=identity, inbound=inbound, event=event)
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
            subject=inbound.subject[:300],
            recipients={key: list(value)[:50] for key, value in inbound.recipients.items()},
            # Enforced here, the one way in, whatever a connector did already.
            html=sanitize_html(inbound.html),
            external_id=inbound.external_id,
            source_event=event,
            status=Message.Status.SENT if inbound.from_business else Message.Status.RECEIVED,
            sent_at=inbound.sent_at,
            automatic=inbound.automatic,
        )
        if inbound.context:
            ContactIdentity.objects.filter(pk=identity.pk).update(context=inbound.context)
        if inbound.opt_out is not None:
            ContactIdentity.objects.filter(pk=identity.pk).update(
                opted_out_at=timezone.now() if inbound.opt_out else None
            )
        for address, reason in inbound.undeliverable:
            ContactIdentity.objects.filter(kind="email", address=address).update(
                undeliverable_reason=f"bounced: {reason}"[:300]
            )
        inline = inline_image_ids(message.html)
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
            message.html = inline_images_shown(message.html, attachments)
            Message.objects.filter(pk=message.pk).update(html=message.html)
        conversation_touch(message, inbound=not inbound.from_business)
        if not inbound.from_business:
            _inbox_heard_from(inbox)
        conversation.inbox, conversation.customer = inbox, identity.customer
        listeners.message_created(message)
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


def _survey_answer_ingest(survey, rating, comment, *, inbox, identity, inbound, event) -> Message:
    """A rating sent as a message (a digit by SMS, a quick reply on Messenger): kept in the timeline of
    the conversation it rates, which stays resolved; nobody waits on it, nothing answers it."""
    conversation = Conversation.objects.select_related("customer", "inbox", "assignee").get(pk=survey.conversation_id)
    message = Message.objects.create(
        conversation=conversation,
        inbox=inbox,
        identity=identity,
        direction=Message.Direction.INBOUND,
        sender_type=Message.Sender.CUSTOMER,
        text=inbound.text,
        external_id=inbound.external_id,
        source_event=event,
        status=Message.Status.RECEIVED,
        sent_at=inbound.sent_at,
        rating=rating,
    )
    listeners.message_created(message)
    csat.survey_answer(survey=survey, rating=rating, comment=comment, message=message)
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


def inline_image_ids(html: str) -> set[str]:
    return {match.group(2).strip("<>").lower() for match in _INLINE_IMG.finditer(html or "")}


def inline_images_shown(html: str, attachments: list[Attachment]) -> str:
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
    # Locked with the customer until commit: the status it is found in is the one its history records.
    mine = (
        Conversation.objects.filter(inbox=inbox, customer_id=identity.customer_id)
        .select_related("assignee")
        .select_for_update(of=("self",))
    )
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


def conversation_touch(message: Message, *, inbound: bool) -> None:
    """Record a new message on its conversation without writing back anything read earlier.

    An inbound message reopens the conversation and makes its sender the reply address (replies go
    where the customer last wrote from). The in-memory conversation is brought up to date too, for
    the event that announces the message. Its service-level clocks and report figures follow: a
    customer who starts waiting starts a response clock, a reply stops it and is counted.
    """
    conversation = message.conversation
    status_before, waiting_before = conversation.status, conversation.waiting_since
    preview = (message.text or "").strip().replace("\n", " ")[:PREVIEW_LENGTH]
    changes = {
        "last_message_at": Greatest(F("last_message_at"), Value(message.created_at, output_field=DateTimeField())),
        "last_message_preview": preview,
        "updated_at": timezone.now(),
    }
    person = inbound and not message.automatic
    if person:
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
    elif not inbound and facts.counts_as_reply(message):
        # Answered (a forward to someone else is not an answer).
        changes["waiting_since"] = None
        conversation.waiting_since = None
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    conversation.last_message_at = max(conversation.last_message_at, message.created_at)
    conversation.last_message_preview = preview
    if person:
        if status_before != Conversation.Status.OPEN:
            status_recorded(conversation, before=status_before, after=Conversation.Status.OPEN, at=message.created_at)
        facts.message_recorded(message, waiting_before=waiting_before)
        if waiting_before is None:
            sla.customer_started_waiting(conversation, at=message.created_at)
    else:
        answered = waiting_before is not None and facts.counts_as_reply(message)
        clock = sla.agent_replied(conversation, at=message.created_at) if answered else None
        facts.message_recorded(message, waiting_before=waiting_before, clock=clock)
