"""Read queries, each shaped for its index and costing a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from conversations.models import Attachment, Conversation, InboundEvent, Message
from customers.models import ContactIdentity
from inbox.connectors.messenger import HUMAN_AGENT_WINDOW, RESPONSE_WINDOW

PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 100
SYNC_LIMIT = 200


def visible_inbox_ids(user) -> QuerySet:
    """The inboxes an agent belongs to, as a subquery: membership is checked inside each query."""
    return user.memberships.values("inbox_id")


@dataclass(frozen=True)
class Cursor:
    """A keyset position: a time and an id to break ties."""

    at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}_{self.id}"

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        if not value:
            return None
        try:
            stamp, _, pk = value.rpartition("_")
            at = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        return cls(at, int(pk)) if at.tzinfo and pk.isdigit() else None


def conversation_list(
    *, user, after: Cursor | None = None, limit: int = PAGE_SIZE
) -> tuple[list[Conversation], Cursor | None]:
    """Newest activity first, keyset-paginated on (last_message_at, id): two queries a page."""
    inbox_ids = visible_inbox_ids(user)
    qs = Conversation.objects.filter(inbox_id__in=inbox_ids).select_related("customer", "inbox", "assignee")
    if after:
        qs = qs.filter(Q(last_message_at__lt=after.at) | Q(last_message_at=after.at, id__lt=after.id))
    rows = list(qs.order_by("-last_message_at", "-id")[: limit + 1])
    page = rows[:limit]
    next_cursor = Cursor(page[-1].last_message_at, page[-1].pk) if len(rows) > limit else None
    return page, next_cursor


def conversation_for_agent(*, user, conversation_id: int) -> Conversation | None:
    return (
        Conversation.objects.filter(inbox_id__in=visible_inbox_ids(user))
        .select_related("customer", "inbox", "identity", "assignee")
        .filter(pk=conversation_id)
        .first()
    )


def _messages_with_context() -> QuerySet[Message]:
    return Message.objects.select_related(
        "conversation__inbox", "conversation__customer", "author", "identity"
    ).prefetch_related("attachments")


def customer_timeline(
    *, user, customer_id: int, before: Cursor | None = None, limit: int = TIMELINE_PAGE_SIZE
) -> tuple[list[Message], Cursor | None]:
    """The customer's latest messages across all the conversations the agent may see, oldest first,
    and the cursor for the page before them (None at the beginning)."""
    qs = _messages_with_context().filter(
        conversation__customer_id=customer_id, conversation__inbox_id__in=visible_inbox_ids(user)
    )
    if before:
        qs = qs.filter(Q(created_at__lt=before.at) | Q(created_at=before.at, id__lt=before.id))
    newest_first = list(qs.order_by("-created_at", "-id")[: limit + 1])
    page = newest_first[:limit]
    earlier = Cursor(page[-1].created_at, page[-1].pk) if len(newest_first) > limit else None
    return page[::-1], earlier


def timeline_changes(*, user, customer_id: int, since: datetime) -> list[Message]:
    return list(
        _messages_with_context()
        .filter(
            conversation__customer_id=customer_id,
            conversation__inbox_id__in=visible_inbox_ids(user),
            updated_at__gte=since,
        )
        .order_by("created_at", "id")[:SYNC_LIMIT]
    )


def conversations_changed(*, user, since: datetime) -> list[Conversation]:
    """At most SYNC_LIMIT + 1 rows: more than SYNC_LIMIT means the page should simply reload."""
    return list(
        Conversation.objects.filter(inbox_id__in=visible_inbox_ids(user), updated_at__gte=since)
        .select_related("customer", "inbox", "assignee")
        .order_by("last_message_at", "id")[: SYNC_LIMIT + 1]
    )


def message_for_display(message_id: int) -> Message | None:
    return _messages_with_context().filter(pk=message_id).first()


def widget_history(*, inbox_id: int, visitor_id: str, verified_email: str, limit: int = 100) -> list[Message]:
    """What a visitor may see: messages from and to this visitor, or, if the website vouched for
    them, their customer's chats in this inbox (from any device)."""
    qs = Message.objects.filter(inbox_id=inbox_id).select_related("author")
    if verified_email:
        owner = ContactIdentity.objects.filter(kind="email", address=verified_email).values("customer_id")
        qs = qs.filter(conversation__customer_id__in=owner)
    else:
        qs = qs.filter(identity__kind="webchat", identity__address=visitor_id)
    return list(reversed(qs.order_by("-created_at", "-id")[:limit]))


def attachment_for_agent(*, user, attachment_id: int) -> Attachment | None:
    return Attachment.objects.filter(pk=attachment_id, message__inbox_id__in=visible_inbox_ids(user)).first()


def message_original_for_agent(*, user, message_id: int) -> InboundEvent | None:
    """The raw mail a message came from, if the agent may see the message."""
    return InboundEvent.objects.filter(
        messages__pk=message_id, inbox_id__in=visible_inbox_ids(user), content_type="message/rfc822"
    ).first()


@dataclass(frozen=True)
class ReplyChannel:
    """One way to answer a customer: an identity of theirs, on an inbox that reaches it."""

    identity_id: int
    address: str
    inbox_id: int
    inbox_name: str
    inbox_kind: str
    blocked: str = ""  # why a reply cannot go out this way now, for the composer to say before sending

    @property
    def value(self) -> str:
        return f"{self.identity_id}:{self.inbox_id}"

    @property
    def label(self) -> str:
        return f"{self.inbox_name} · {self.address}"


def reply_channels(*, user, conversation: Conversation) -> list[ReplyChannel]:
    """Where the agent may answer this customer, the one they last wrote from first: each identity
    with the inbox it wrote to, among the agent's inboxes (one query)."""
    rows = (
        Message.objects.filter(
            conversation__customer_id=conversation.customer_id,
            inbox_id__in=visible_inbox_ids(user),
            direction=Message.Direction.INBOUND,
            identity__isnull=False,
        )
        .values("identity_id", "identity__address", "identity__opted_out_at", "inbox_id", "inbox__name", "inbox__kind")
        .annotate(last=Max("sent_at"))
        .order_by("-last")
    )
    # Inboxes allowed Messenger's human agent tag (a JSON setting: not something to group by).
    tagged = {conversation.inbox_id} if conversation.inbox.settings.get("human_agent_tag") else set()
    # Grouped by (identity, inbox): one row per pair, the most recently used first.
    channels = [
        ReplyChannel(
            row["identity_id"],
            row["identity__address"],
            row["inbox_id"],
            row["inbox__name"],
            row["inbox__kind"],
            _blocked(row["inbox__kind"], row["identity__opted_out_at"], row["last"], tagged=row["inbox_id"] in tagged),
        )
        for row in rows
    ]
    if not any((c.identity_id, c.inbox_id) == (conversation.identity_id, conversation.inbox_id) for c in channels):
        # The conversation's own way, even before the customer wrote on it.
        identity, inbox = conversation.identity, conversation.inbox
        channels.append(ReplyChannel(identity.pk, identity.address, inbox.pk, inbox.name, inbox.kind))
    return channels


def _blocked(kind: str, opted_out_at, last_inbound, *, tagged: bool) -> str:
    """What the provider would refuse, said before the agent writes (the send checks it again)."""
    if kind == "sms" and opted_out_at:
        return "they opted out (texted STOP) and must text START first"
    if kind == "messenger" and last_inbound:
        if timezone.now() - last_inbound > (HUMAN_AGENT_WINDOW if tagged else RESPONSE_WINDOW):
            return f"Messenger allows replies only within {'7 days' if tagged else '24 hours'} of their last message"
    return ""


def conversations_outside_inboxes(*, user, customer_ids: list[int]) -> bool:
    """Whether any of these customers' conversations lies in an inbox the agent is not in."""
    return (
        Conversation.objects.filter(customer_id__in=customer_ids).exclude(inbox_id__in=visible_inbox_ids(user)).exists()
    )
