"""Read queries, each shaped for its index and costing a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format

from conversations.models import (
    Attachment,
    CannedResponse,
    Conversation,
    ConversationRead,
    InboundEvent,
    Label,
    Message,
    Notification,
)
from customers.models import ContactIdentity
from inbox.connectors.registry import connector_for_kind
from inbox.models import AgentProfile, Inbox, InboxMembership, SavedView, Team

PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 100
SYNC_LIMIT = 200


def visible_inbox_ids(user) -> QuerySet:
    """The inboxes an agent belongs to, as a subquery: membership is checked inside each query."""
    return user.memberships.values("inbox_id")


@dataclass(frozen=True)
class Cursor:
    """A keyset position: a time and an id to break ties (and, for the priority sort, a rank first)."""

    at: datetime
    id: int
    rank: int | None = None

    def encode(self) -> str:
        position = f"{self.at.isoformat()}_{self.id}"
        return position if self.rank is None else f"{self.rank}~{position}"

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        if not value:
            return None
        rank, _, value = value.rpartition("~")
        try:
            stamp, _, pk = value.rpartition("_")
            at = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        if rank and not (rank.isdigit() and len(rank) < 3):
            return None
        return cls(at, int(pk), int(rank) if rank else None) if at.tzinfo and pk.isdigit() and len(pk) < 19 else None


VIEWS = ("mine", "unassigned", "all", "breaching")
STATUSES = ("open", "pending", "snoozed", "resolved", "all")
SORTS = ("activity", "waiting", "priority", "sla")
# "Breaching soon": a service-level deadline passed, or this close.
BREACHING_WITHIN = timedelta(hours=1)


def breaching_by() -> datetime:
    return timezone.now() + BREACHING_WITHIN


@dataclass(frozen=True)
class ListState:
    """The list an agent is looking at, as its URL says: a view, filters and a sort."""

    view: str = "all"
    status: str = "open"
    inbox: int | None = None
    label: int | None = None
    assignee: int | None = None
    sort: str = "activity"

    @classmethod
    def from_query(cls, query) -> ListState:
        def number(name):
            value = query.get(name, "")
            return int(value) if value.isdigit() else None

        view = query.get("view", "")
        if not (view in VIEWS or (view.startswith("team-") and view[5:].isdigit())):
            view = cls.view
        status = query.get("status") if query.get("status") in STATUSES else cls.status
        sort = query.get("sort") if query.get("sort") in SORTS else cls.sort
        return cls(view, status, number("inbox"), number("label"), number("assignee"), sort)

    @property
    def team(self) -> int | None:
        return int(self.view[5:]) if self.view.startswith("team-") else None

    @property
    def query(self) -> str:
        """The state as a query string, defaults left out, for links that keep it."""
        values = {
            "view": self.view,
            "status": self.status,
            "inbox": self.inbox,
            "label": self.label,
            "assignee": self.assignee,
            "sort": self.sort,
        }
        return urlencode({k: v for k, v in values.items() if v is not None and v != getattr(ListState, k, None)})


def _list_queryset(user, state: ListState) -> QuerySet[Conversation]:
    qs = Conversation.objects.filter(inbox_id__in=visible_inbox_ids(user))
    if state.view == "mine":
        qs = qs.filter(assignee=user)
    elif state.view == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif state.view == "breaching":
        qs = qs.filter(sla_due_at__lte=breaching_by())
    elif state.team is not None:
        qs = qs.filter(team_id=state.team)
    if state.status != "all":
        qs = qs.filter(status=state.status)
    if state.inbox:
        qs = qs.filter(inbox_id=state.inbox)
    if state.label:
        qs = qs.filter(labels__id=state.label)
    if state.assignee:
        qs = qs.filter(assignee_id=state.assignee)
    return qs


def _with_row_data(qs: QuerySet[Conversation], user) -> QuerySet[Conversation]:
    """What a row shows: customer, inbox, assignee, team, labels, and whether this agent has read it."""
    read = ConversationRead.objects.filter(
        user=user, conversation=OuterRef("pk"), read_at__gte=OuterRef("last_message_at")
    )
    return (
        qs.select_related("customer", "inbox", "assignee", "team")
        .prefetch_related("labels")
        .annotate(is_read=Exists(read))
    )


def conversation_list(
    *, user, state: ListState | None = None, after: Cursor | None = None, limit: int = PAGE_SIZE
) -> tuple[list[Conversation], Cursor | None]:
    """One page of the list, keyset-paginated: newest activity first on (last_message_at, id), longest
    waiting first on (waiting_since, id), or the soonest service-level deadline first on
    (sla_due_at, id). Two queries a page (rows, their labels)."""
    state = state or ListState()
    qs = _with_row_data(_list_queryset(user, state), user)
    if state.sort == "sla":
        qs = qs.filter(sla_due_at__isnull=False)
        if after:
            qs = qs.filter(sla_due_at__gte=after.at).filter(
                Q(sla_due_at__gt=after.at) | Q(sla_due_at=after.at, id__gt=after.id)
            )
        qs = qs.order_by("sla_due_at", "id")
    elif state.sort == "waiting":
        qs = qs.filter(waiting_since__isnull=False)
        if after:
            # The redundant bound lets the index scan start at the cursor instead of filtering up to it.
            qs = qs.filter(waiting_since__gte=after.at).filter(
                Q(waiting_since__gt=after.at) | Q(waiting_since=after.at, id__gt=after.id)
            )
        qs = qs.order_by("waiting_since", "id")
    elif state.sort == "priority":
        if after and after.rank is not None:
            qs = qs.filter(
                Q(priority__lt=after.rank)
                | Q(priority=after.rank, last_message_at__lt=after.at)
                | Q(priority=after.rank, last_message_at=after.at, id__lt=after.id)
            )
        qs = qs.order_by("-priority", "-last_message_at", "-id")
    else:
        if after:
            qs = qs.filter(last_message_at__lte=after.at).filter(
                Q(last_message_at__lt=after.at) | Q(last_message_at=after.at, id__lt=after.id)
            )
        qs = qs.order_by("-last_message_at", "-id")
    rows = list(qs[: limit + 1])
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        positions = {"waiting": last.waiting_since, "sla": last.sla_due_at}
        next_cursor = Cursor(
            positions.get(state.sort, last.last_message_at),
            last.pk,
            last.priority if state.sort == "priority" else None,
        )
    return page, next_cursor


@dataclass(frozen=True)
class ViewCounts:
    mine: int
    unassigned: int
    all: int
    teams: dict[int, int]
    breaching: int = 0


def view_counts(*, user, status: str = "open") -> ViewCounts:
    """How many conversations each view holds in this status: one grouped query."""
    qs = Conversation.objects.filter(inbox_id__in=visible_inbox_ids(user))
    if status != "all":
        qs = qs.filter(status=status)
    rows = list(
        qs.values("team_id").annotate(
            total=Count("id"),
            mine=Count("id", filter=Q(assignee=user)),
            unassigned=Count("id", filter=Q(assignee__isnull=True)),
            breaching=Count("id", filter=Q(sla_due_at__lte=breaching_by())),
        )
    )
    return ViewCounts(
        mine=sum(r["mine"] for r in rows),
        unassigned=sum(r["unassigned"] for r in rows),
        all=sum(r["total"] for r in rows),
        teams={r["team_id"]: r["total"] for r in rows if r["team_id"]},
        breaching=sum(r["breaching"] for r in rows),
    )


def conversations_for_broadcast(conversation_ids: list[int]) -> list[Conversation]:
    """Rows as every agent sees them (read marks are each agent's own: the page keeps them)."""
    return list(
        Conversation.objects.filter(pk__in=conversation_ids)
        .select_related("customer", "inbox", "assignee", "team", "identity", "csat")
        .prefetch_related("labels")
    )


@dataclass(frozen=True)
class Controls:
    """What the workspace offers to act with: agents to assign (per inbox), teams, labels."""

    agents_by_inbox: dict[int, list]
    teams: list
    labels: list

    def agents(self, inbox_id: int) -> list:
        return self.agents_by_inbox.get(inbox_id, [])

    @property
    def priorities(self) -> list[tuple[int, str]]:
        return Conversation.Priority.choices


def workspace_controls(*, inbox_ids) -> Controls:
    """Three queries, whatever the number of inboxes."""
    agents: dict[int, list] = {}
    memberships = (
        InboxMembership.objects.filter(inbox_id__in=inbox_ids, user__is_active=True)
        .select_related("user")
        .order_by("user__first_name", "user__username")
    )
    for membership in memberships:
        agents.setdefault(membership.inbox_id, []).append(membership.user)
    return Controls(agents, teams(), list(Label.objects.all()))


def teams() -> list[Team]:
    return list(Team.objects.all())


def conversation_for_agent(*, user, conversation_id: int) -> Conversation | None:
    return (
        Conversation.objects.filter(inbox_id__in=visible_inbox_ids(user))
        .select_related("customer", "inbox", "identity", "assignee", "team", "csat")
        .prefetch_related("labels")
        .filter(pk=conversation_id)
        .first()
    )


def conversations_for_agent(*, user, conversation_ids: list[int]) -> list[Conversation]:
    """Those of these conversations the agent may act on, for bulk actions."""
    return list(
        Conversation.objects.filter(inbox_id__in=visible_inbox_ids(user), pk__in=conversation_ids).select_related(
            "customer"
        )
    )


def agent_inboxes(*, user) -> list[Inbox]:
    return list(Inbox.objects.filter(pk__in=visible_inbox_ids(user)).order_by("name"))


def messages_since(*, user, customer_id: int, after_id: int) -> list[Message]:
    """What the agent has not seen in the customer's timeline: the customer's messages and other
    agents' replies newer than ``after_id`` (the send guard)."""
    return list(
        _messages_with_context()
        .filter(
            conversation__customer_id=customer_id, conversation__inbox_id__in=visible_inbox_ids(user), pk__gt=after_id
        )
        .exclude(direction=Message.Direction.NOTE)
        .exclude(direction=Message.Direction.OUTBOUND, author=user)
        .order_by("created_at", "id")[:20]
    )


def message_for_agent(*, user, message_id: int) -> Message | None:
    return _messages_with_context().filter(pk=message_id, inbox_id__in=visible_inbox_ids(user)).first()


@dataclass(frozen=True)
class Notifications:
    unread: int
    latest: list[Notification]


def notifications_for(*, user, limit: int = 20) -> Notifications:
    latest = list(
        Notification.objects.filter(user=user, conversation__inbox_id__in=visible_inbox_ids(user))
        .select_related("conversation__customer", "actor")
        .order_by("-created_at", "-id")[:limit]
    )
    unread = Notification.objects.filter(user=user, read_at__isnull=True).count()
    return Notifications(unread, latest)


def canned_for(*, user) -> list[CannedResponse]:
    """Shared responses, the agent's teams' and the agent's own."""
    return list(
        CannedResponse.objects.filter(
            Q(owner__isnull=True, team__isnull=True) | Q(owner=user) | Q(team__members=user)
        ).distinct()
    )


def _messages_with_context() -> QuerySet[Message]:
    return Message.objects.select_related(
        "conversation__inbox", "conversation__customer", "author", "identity", "csat_question"
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
    qs = Conversation.objects.filter(inbox_id__in=visible_inbox_ids(user), updated_at__gte=since)
    return list(_with_row_data(qs, user).order_by("last_message_at", "id")[: SYNC_LIMIT + 1])


def notifications_since(*, user, since: datetime) -> list[Notification]:
    return list(
        Notification.objects.filter(
            user=user, created_at__gte=since, conversation__inbox_id__in=visible_inbox_ids(user)
        ).order_by("created_at", "id")[:SYNC_LIMIT]
    )


def message_for_display(message_id: int) -> Message | None:
    return _messages_with_context().filter(pk=message_id).first()


def widget_history(*, inbox_id: int, visitor_id: str, verified_email: str, limit: int = 100) -> list[Message]:
    """What a visitor may see: messages from and to this visitor, or, if the website vouched for
    them, their customer's chats in this inbox (from any device)."""
    # Private notes are the team's own: never part of what a visitor sees.
    qs = (
        Message.objects.filter(inbox_id=inbox_id)
        .exclude(direction=Message.Direction.NOTE)
        .select_related("author", "csat_question")
        .prefetch_related("attachments")
    )
    if verified_email:
        owner = ContactIdentity.objects.filter(kind="email", address=verified_email).values("customer_id")
        qs = qs.filter(conversation__customer_id__in=owner)
    else:
        qs = qs.filter(identity__kind="webchat", identity__address=visitor_id)
    return list(reversed(qs.order_by("-created_at", "-id")[:limit]))


def attachment_for_agent(*, user, attachment_id: int) -> Attachment | None:
    return Attachment.objects.filter(pk=attachment_id, message__inbox_id__in=visible_inbox_ids(user)).first()


def attachment_by_id(attachment_id: int) -> Attachment | None:
    """For a signed link only (inbox.connectors.public_files): the signature is the permission."""
    return Attachment.objects.filter(pk=attachment_id).first()


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
    last_at: datetime | None = None  # the customer's latest message this way

    @property
    def value(self) -> str:
        return f"{self.identity_id}:{self.inbox_id}"

    @property
    def label(self) -> str:
        if self.inbox_kind != "webchat":
            return f"{self.inbox_name} · {self.address}"
        # A chat visitor's address is our own random id: say when they wrote instead.
        if self.last_at is None:
            return f"{self.inbox_name} · chat"
        return f"{self.inbox_name} · chat of {date_format(timezone.localtime(self.last_at), 'SHORT_DATE_FORMAT')}"


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
    # Grouped by (identity, inbox): one row per pair, the most recently used first.
    channels = [
        ReplyChannel(
            row["identity_id"],
            row["identity__address"],
            row["inbox_id"],
            row["inbox__name"],
            row["inbox__kind"],
            connector_for_kind(row["inbox__kind"]).reply_blocked(
                # Only the open conversation's inbox is loaded; its settings are JSON, not for grouping by.
                inbox_settings=conversation.inbox.settings if row["inbox_id"] == conversation.inbox_id else {},
                opted_out_at=row["identity__opted_out_at"],
                last_inbound_at=row["last"],
            ),
            row["last"],
        )
        for row in rows
    ]
    if not any((c.identity_id, c.inbox_id) == (conversation.identity_id, conversation.inbox_id) for c in channels):
        # The conversation's own way, even before the customer wrote on it.
        identity, inbox = conversation.identity, conversation.inbox
        channels.append(ReplyChannel(identity.pk, identity.address, inbox.pk, inbox.name, inbox.kind))
    return channels


def saved_views(*, user) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user).order_by("name"))


def latest_inbound_recipients(*, conversation_id: int) -> dict:
    """Whom the customer's latest mail in the conversation was also to (what Reply all answers)."""
    return (
        Message.objects.filter(conversation_id=conversation_id, direction=Message.Direction.INBOUND)
        .order_by("-created_at", "-id")
        .values_list("recipients", flat=True)
        .first()
    ) or {}


def email_signature(*, user, inbox: Inbox) -> str:
    """What an email from this agent on this inbox is signed with: theirs, then the inbox's."""
    own = AgentProfile.objects.filter(user=user).values_list("signature", flat=True).first() or ""
    return "\n".join(part.strip() for part in (own, inbox.settings.get("signature", "")) if part.strip())


def conversations_outside_inboxes(*, user, customer_ids: list[int]) -> bool:
    """Whether any of these customers' conversations lies in an inbox the agent is not in."""
    return (
        Conversation.objects.filter(customer_id__in=customer_ids).exclude(inbox_id__in=visible_inbox_ids(user)).exists()
    )


def inbox_member_ids(inbox_ids) -> set[int]:
    """The active agents of these inboxes."""
    return set(
        InboxMembership.objects.filter(inbox_id__in=inbox_ids, user__is_active=True).values_list("user_id", flat=True)
    )


@dataclass(frozen=True)
class ConversationRef:
    """What a socket needs to know about a conversation to announce viewing and typing in it."""

    id: int
    inbox_id: int
    visitor_id: str | None  # the website visitor to tell an agent is typing, for website chats


def conversation_ref(conversation_id: int) -> ConversationRef | None:
    row = (
        Conversation.objects.filter(pk=conversation_id)
        .values("inbox_id", "inbox__kind", "identity__kind", "identity__address")
        .first()
    )
    if row is None:
        return None
    webchat = row["inbox__kind"] == Inbox.Kind.WEBCHAT and row["identity__kind"] == ContactIdentity.Kind.WEBCHAT
    return ConversationRef(
        id=conversation_id, inbox_id=row["inbox_id"], visitor_id=row["identity__address"] if webchat else None
    )


def visitor_conversation_id(*, inbox_id: int, visitor_id: str) -> int | None:
    """The conversation a website visitor's next message goes to: their latest one not resolved."""
    customers = ContactIdentity.objects.filter(kind=ContactIdentity.Kind.WEBCHAT, address=visitor_id).values(
        "customer_id"
    )
    return (
        Conversation.objects.filter(inbox_id=inbox_id, customer_id__in=customers)
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-last_message_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )


# ---- routing ---------------------------------------------------------------------------------------

UNRESOLVED = [Conversation.Status.OPEN, Conversation.Status.PENDING, Conversation.Status.SNOOZED]


def routing_members(*, inbox_id: int) -> list[InboxMembership]:
    """The inbox's active members in round-robin order: never routed to first, then the one routed
    to longest ago, then by user id (with their user)."""
    return list(
        InboxMembership.objects.filter(inbox_id=inbox_id, user__is_active=True)
        .select_related("user")
        .order_by(F("last_routed_at").asc(nulls_first=True), "user_id")
    )


def unresolved_held(*, inbox_id: int, user_ids) -> dict[int, int]:
    """How many unresolved conversations of the inbox each of these agents holds (absent: none)."""
    # Spelled as a list of statuses, not "not resolved", so that the status index can find them.
    rows = (
        Conversation.objects.filter(inbox_id=inbox_id, assignee_id__in=list(user_ids), status__in=UNRESOLVED)
        .values("assignee_id")
        .annotate(held=Count("id"))
        .order_by()
    )
    return {row["assignee_id"]: row["held"] for row in rows}


def inboxes_rerouting_offline() -> list[Inbox]:
    """The active round-robin inboxes that hand an offline agent's open conversations on."""
    return list(
        Inbox.objects.filter(is_active=True, routing=Inbox.Routing.ROUND_ROBIN, reassign_when_offline=True).order_by(
            "pk"
        )
    )


def open_assignee_ids(*, inbox_id: int) -> set[int]:
    """The agents holding at least one open conversation of the inbox."""
    return set(
        Conversation.objects.filter(inbox_id=inbox_id, status=Conversation.Status.OPEN, assignee__isnull=False)
        .values_list("assignee_id", flat=True)
        .distinct()
        .order_by()
    )


def open_conversations_held_by(*, inbox_id: int, user_ids, limit: int) -> list[Conversation]:
    """These agents' open conversations in the inbox, the customer waiting longest first."""
    return list(
        Conversation.objects.filter(inbox_id=inbox_id, status=Conversation.Status.OPEN, assignee_id__in=list(user_ids))
        .select_related("customer", "inbox")
        .order_by(F("waiting_since").asc(nulls_last=True), "id")[:limit]
    )
