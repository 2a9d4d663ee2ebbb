"""Agents' replies: queued in the transaction that records them, sent by a task after commit, on
any of the customer's channels; a failed one can be retried."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from conversations import listeners
from conversations.delivery import message_deliver_task
from conversations.ingest import conversation_touch
from conversations.models import Attachment, Conversation, Message
from customers.models import ContactIdentity
from inbox.audit.record import audit_record


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
        conversation_touch(message, inbound=False)
        listeners.message_created(message)
        transaction.on_commit(lambda: message_deliver_task.delay(message.pk))
    return message


def message_retry(*, message_id: int, actor=None) -> bool:
    """Send a failed reply again, as the agent asked: queued once more, the reason cleared."""
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
            listeners.message_updated(message_id)
            transaction.on_commit(lambda: message_deliver_task.delay(message_id))
    return bool(retried)
