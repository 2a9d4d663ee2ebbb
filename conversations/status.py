"""A conversation's status as it moves: the one place every change of status is recorded, so that its
history, its service-level clocks, its report figures and its satisfaction survey all hear of it."""

from __future__ import annotations

from datetime import datetime

from conversations import csat, sla
from conversations.models import Conversation, StatusChange
from conversations.reports import facts


def status_locked(conversation_id: int) -> str:
    """The conversation's status as stored, its row locked until commit: a change recorded against it
    says truly what it was (two agents, or an agent and a customer, at the same moment)."""
    return Conversation.objects.select_for_update().filter(pk=conversation_id).values_list("status", flat=True).get()


def status_recorded(conversation: Conversation, *, before: str, after: str, at: datetime, actor=None) -> None:
    """A change of status has been written: keep it in the history, move the clocks, count it, and
    ask or forget the survey. ``actor`` None is the customer (a message reopens) or the system."""
    if before == after:
        return
    StatusChange.objects.create(conversation=conversation, at=at, before=before, after=after, actor=actor)
    sla.status_changed(conversation, before=before, after=after, at=at)
    facts.status_changed(conversation, before=before, after=after, at=at)
    csat.status_changed(conversation, before=before, after=after, at=at, actor=actor)
