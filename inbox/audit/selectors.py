"""Queries of the audit log: one page of entries on (at, id), newest first, and what its filters offer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet

from conversations.selectors import Cursor
from inbox.audit.record import ACTIONS
from inbox.models import AuditEntry, Inbox

PAGE_SIZE = 50
SYSTEM = "system"  # the actor filter's value for entries no person made (the beat task, routing)


@dataclass(frozen=True)
class AuditFilters:
    """What the admin asked to see, as the address says (so a filtered view can be bookmarked).

    ``action`` is one kind ("conversation.assign") or a family of them ("conversation"); ``since``
    and ``until`` are whole days, both included, in the reader's time zone ``tz`` (the browser's,
    which the form sends), else UTC.
    """

    actor: str = ""  # a user's id, or SYSTEM
    action: str = ""
    inbox: int | None = None
    since: date | None = None
    until: date | None = None
    tz: str = ""

    @classmethod
    def from_query(cls, query) -> AuditFilters:
        # Anything malformed is dropped, not an error: the form then shows which filters hold.
        actor = query.get("actor", "")
        inbox = query.get("inbox", "")
        return cls(
            actor=actor if actor.isdigit() or actor == SYSTEM else "",
            action=query.get("action", "").strip()[:50],
            inbox=int(inbox) if inbox.isdigit() else None,
            since=_day(query.get("from", "")),
            until=_day(query.get("to", "")),
            tz=_zone_name(query.get("tz", "")),
        )

    @property
    def query(self) -> str:
        """The filters as a query string, empty ones left out."""
        values = {
            "actor": self.actor,
            "action": self.action,
            "inbox": self.inbox,
            "from": self.since.isoformat() if self.since else "",
            "to": self.until.isoformat() if self.until else "",
            "tz": self.tz if self.since or self.until else "",
        }
        return urlencode({key: value for key, value in values.items() if value})


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _zone_name(value: str) -> str:
    try:
        return value if value and ZoneInfo(value) else ""
    except (ZoneInfoNotFoundError, ValueError):
        return ""


def _start_of(day: date, tz: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz or "UTC"))


def _filtered(filters: AuditFilters) -> QuerySet[AuditEntry]:
    qs = AuditEntry.objects.all()
    if filters.actor == SYSTEM:
        qs = qs.filter(actor__isnull=True, actor_name=SYSTEM)
    elif filters.actor:
        qs = qs.filter(actor_id=int(filters.actor))
    if "." in filters.action:
        qs = qs.filter(action=filters.action)
    elif filters.action:
        qs = qs.filter(action__startswith=f"{filters.action}.")
    if filters.inbox:
        qs = qs.filter(inbox_id=filters.inbox)
    if filters.since:
        qs = qs.filter(at__gte=_start_of(filters.since, filters.tz))
    if filters.until:
        qs = qs.filter(at__lt=_start_of(filters.until + timedelta(days=1), filters.tz))
    # The inbox's name only: its row carries encrypted credentials not worth decrypting per entry.
    return qs.annotate(inbox_name=F("inbox__name"))


def audit_entries(
    *, filters: AuditFilters, cursor: Cursor | None = None, limit: int = PAGE_SIZE
) -> tuple[list[AuditEntry], Cursor | None]:
    """One page of entries older than the cursor, newest first, and the cursor for the next page.
    One query, whatever the page holds; each entry gets ``conversation_id`` to link to, if any."""
    qs = _filtered(filters)
    if cursor:
        # The redundant bound lets the index scan start at the cursor instead of filtering up to it.
        qs = qs.filter(at__lte=cursor.at).filter(Q(at__lt=cursor.at) | Q(at=cursor.at, id__lt=cursor.id))
    rows = list(qs.order_by("-at", "-id")[: limit + 1])
    page = rows[:limit]
    for entry in page:
        entry.conversation_id = _conversation_of(entry)
    next_cursor = Cursor(page[-1].at, page[-1].pk) if len(rows) > limit else None
    return page, next_cursor


def _conversation_of(entry: AuditEntry) -> int | None:
    if entry.target_type == "conversation":
        return entry.target_id
    conversation_id = entry.details.get("conversation_id") if isinstance(entry.details, dict) else None
    return conversation_id if isinstance(conversation_id, int) else None


@dataclass(frozen=True)
class AuditChoices:
    actors: list
    inboxes: list[Inbox]
    actions: list[tuple[str, str]]


def audit_filter_choices(*, current_action: str = "") -> AuditChoices:
    """What the filters offer: everyone with an account, every inbox, every kind of entry (two queries)."""
    families = sorted({kind.split(".")[0] for kind in ACTIONS})
    actions = [(family, f"Any {family} action") for family in families]
    actions += sorted(ACTIONS.items())
    if current_action and current_action not in dict(actions):
        actions.append((current_action, current_action))  # a bookmarked kind the catalogue lacks
    return AuditChoices(
        actors=list(
            get_user_model()
            .objects.order_by("-is_active", "first_name", "last_name", "username")
            .only("pk", "username", "first_name", "last_name", "is_active")
        ),
        inboxes=list(Inbox.objects.order_by("name").only("pk", "name")),
        actions=actions,
    )
