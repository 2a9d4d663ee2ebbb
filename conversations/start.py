"""An agent writing first: a new email or SMS to a customer we know, or to an address we do not,
which opens a conversation on that inbox, assigned to them."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.replies import EmailParts, message_reply
from customers.models import Customer
from customers.services import identity_get_or_create
from inbox.audit.record import audit_record
from inbox.connectors.registry import connector_for
from inbox.models import Inbox


class StartRefused(ValueError):
    """Why the conversation cannot start, in a sentence for the agent."""


def conversation_start(
    *,
    inbox: Inbox,
    to: str,
    text: str,
    author,
    customer: Customer | None = None,
    name: str = "",
    email: EmailParts | None = None,
    files=(),
) -> Message:
    """Write first to ``to`` on ``inbox``. The address's customer is the one we know it by; a new
    address becomes ``customer``'s (from their sidebar) or a new customer's, named ``name``."""
    connector = connector_for(inbox)
    if not connector.starts_conversations:
        raise StartRefused(f"{inbox.get_kind_display()} cannot start a conversation: the customer writes first.")
    try:
        claim = connector.recipient(inbox=inbox, raw=to, name=name)
    except ValueError as exc:
        raise StartRefused(str(exc)) from None
    if not text.strip():
        raise StartRefused("Write something first.")
    email = email or EmailParts()
    if inbox.kind == Inbox.Kind.EMAIL and not email.subject.strip():
        raise StartRefused("A new email needs a subject.")
    with transaction.atomic():
        identity = identity_get_or_create(claim=claim, customer=customer, name=name)
        conversation = Conversation.objects.create(
            inbox=inbox,
            customer=identity.customer,
            identity=identity,
            subject=email.subject.strip()[:300],
            assignee=author,
            last_message_at=timezone.now(),
        )
        message = message_reply(conversation=conversation, author=author, text=text, files=files, email=email)
        audit_record(
            actor=author,
            action="conversation.start",
            summary=f"Started conversation #{conversation.pk} with {identity.customer.display_name} on “{inbox.name}”",
            inbox=inbox,
            target=conversation,
            details={"conversation_id": conversation.pk, "to": claim.address},
        )
    return message
