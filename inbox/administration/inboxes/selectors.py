"""Queries of the inbox settings pages, each a fixed number of statements whatever the number of rows."""

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from conversations.models import InboundEvent
from inbox.connectors.registry import connector_for
from inbox.models import ImapCursor, Inbox, InboxMembership


def inboxes_with_health() -> list[Inbox]:
    """Every inbox with what its health line needs: failed events, the mailbox poller's last error,
    and what it still lacks to send and receive (``not_connected``, as its connector says)."""
    return [_with_setup(inbox) for inbox in _annotated().order_by("-is_active", "name", "pk")]


def inbox_with_health(inbox_id: int) -> Inbox:
    return _with_setup(_annotated().get(pk=inbox_id))


def _annotated():
    return Inbox.objects.annotate(
        # Subqueries, not joins: two counts over joins would multiply each other.
        failed_events=Coalesce(Subquery(_count(InboundEvent.objects.filter(state=InboundEvent.State.FAILED))), 0),
        member_count=Coalesce(Subquery(_count(InboxMembership.objects.all())), 0),
        poll_error=Subquery(ImapCursor.objects.filter(inbox=OuterRef("pk")).values("last_error")[:1]),
        last_polled_at=Subquery(ImapCursor.objects.filter(inbox=OuterRef("pk")).values("last_polled_at")[:1]),
    )


def _with_setup(inbox: Inbox) -> Inbox:
    inbox.not_connected = connector_for(inbox).setup_missing(inbox)
    return inbox


def _count(queryset):
    """How many rows of ``queryset`` belong to the outer inbox, as a subquery."""
    return queryset.filter(inbox=OuterRef("pk")).order_by().values("inbox").annotate(n=Count("pk")).values("n")
