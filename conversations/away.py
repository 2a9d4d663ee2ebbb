"""The out-of-office reply: a customer writing while the team is away is told so, once per
conversation per closed spell, on their own channel; never a machine (an auto-reply, a bounce),
never a number that opted out, never an echo of our own."""

from __future__ import annotations

from django.utils import timezone

from conversations.business_hours import Schedule
from conversations.delivery import system_message_queue
from conversations.models import Conversation, Message
from inbox.connectors.registry import connector_for


def away_reply(message: Message, *, now=None) -> Message | None:
    """Answer ``message`` with its inbox's away text if the inbox is closed now; the reply, or None."""
    inbox = message.inbox
    if message.direction != Message.Direction.INBOUND or message.automatic or message.rating is not None:
        return None
    if not inbox.away_message.strip():
        return None
    schedule = Schedule.of(inbox)
    spell = schedule.closed_since(now or timezone.now()) if schedule else None
    if spell is None:
        return None
    identity = message.identity
    if identity is None or identity.opted_out_at is not None:
        return None
    blocked = connector_for(inbox).reply_blocked(
        inbox_settings=inbox.settings, opted_out_at=identity.opted_out_at, last_inbound_at=message.sent_at
    )
    if blocked:
        return None
    # Claimed in one statement: of two messages in the same moment, one reply.
    claimed = (
        Conversation.objects.filter(pk=message.conversation_id)
        .exclude(away_replied_for=spell)
        .update(away_replied_for=spell)
    )
    if not claimed:
        return None
    return system_message_queue(conversation=message.conversation, text=inbox.away_message.strip(), identity=identity)
