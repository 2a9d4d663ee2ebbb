from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce, Lower

from conversations.selectors import visible_inbox_ids
from customers.models import ContactIdentity, Customer


def customer_identities(*, user, customer_id: int) -> list[ContactIdentity]:
    """The customer's addresses seen in inboxes the agent belongs to; others stay private."""
    from conversations.models import Conversation, Message

    visible = visible_inbox_ids(user)
    # Exists, not joins with DISTINCT: a long-time customer has thousands of messages to join.
    wrote_here = Message.objects.filter(identity=OuterRef("pk"), inbox_id__in=visible)
    runs_here = Conversation.objects.filter(identity=OuterRef("pk"), inbox_id__in=visible)
    # An address an agent added by hand has neither yet: it is the contact's, for whoever sees them.
    used = Exists(Message.objects.filter(identity=OuterRef("pk"))) | Exists(
        Conversation.objects.filter(identity=OuterRef("pk"))
    )
    return list(
        ContactIdentity.objects.filter(customer_id=customer_id)
        .filter(Exists(wrote_here) | Exists(runs_here) | ~used)
        .order_by("kind", "id")
    )


def customer_possible_match(*, user, customer: Customer) -> Customer | None:
    """The customer an unverified claim points at, if the agent may see them."""
    match_id = customer.attributes.get("possible_match_customer_id")
    if not match_id:
        return None
    return Customer.objects.filter(pk=match_id, conversations__inbox_id__in=visible_inbox_ids(user)).first()


def customer_for_agent(*, user, customer_id: int) -> Customer | None:
    """A customer the agent may see: one with a conversation in one of the agent's inboxes."""
    return Customer.objects.filter(pk=customer_id, conversations__inbox_id__in=visible_inbox_ids(user)).first()


def customer_past_conversations(*, user, customer_id: int, limit: int = 20):
    """The customer's conversations the agent may see, newest first."""
    from conversations.models import Conversation

    return list(
        Conversation.objects.filter(customer_id=customer_id, inbox_id__in=visible_inbox_ids(user))
        .select_related("inbox")
        .order_by("-last_message_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class MergePreview:
    """What a merge would move from the source to the target."""

    identities: list[ContactIdentity]
    conversations: list


def merge_preview(*, source: Customer, target: Customer) -> MergePreview:
    from conversations.models import Conversation

    return MergePreview(
        identities=list(ContactIdentity.objects.filter(customer=source).order_by("kind", "id")),
        conversations=list(
            Conversation.objects.filter(customer=source).select_related("inbox").order_by("-last_message_at")
        ),
    )


CONTACT_PAGE_SIZE = 50
CONTACT_SORTS = {"recent": "Latest activity", "name": "Name", "new": "Newest"}


@dataclass(frozen=True)
class ContactFilters:
    """The contacts list as its address says: a search, a company, a sort."""

    q: str = ""
    company: int | None = None
    sort: str = "recent"

    @classmethod
    def from_query(cls, query) -> "ContactFilters":
        company = query.get("company", "")
        sort = query.get("sort", "")
        return cls(
            q=" ".join(query.get("q", "").split())[:100],
            company=int(company) if company.isdigit() and len(company) < 10 else None,
            sort=sort if sort in CONTACT_SORTS else cls.sort,
        )

    @property
    def query(self) -> str:
        values = {"q": self.q, "company": self.company or "", "sort": "" if self.sort == "recent" else self.sort}
        return urlencode({k: v for k, v in values.items() if v})


def visible_customers(user):
    """Customers the agent may see (one of their conversations is in the agent's inboxes), unmerged."""
    from conversations.models import Conversation

    here = Conversation.objects.filter(customer=OuterRef("pk"), inbox_id__in=visible_inbox_ids(user))
    return Customer.objects.filter(Exists(here), merged_into__isnull=True)


def contact_list(*, user, filters: ContactFilters, after: str = "", limit: int = CONTACT_PAGE_SIZE):
    """One keyset page of contacts and the cursor of the next ("" at the end): two queries, the rows
    (with their company and latest activity) and their addresses."""
    from conversations.models import Conversation

    latest = (
        Conversation.objects.filter(customer=OuterRef("pk"), inbox_id__in=visible_inbox_ids(user))
        .order_by("-last_message_at")
        .values("last_message_at")[:1]
    )
    qs = visible_customers(user).select_related("company").annotate(last_at=Subquery(latest), key=Lower("name"))
    if filters.q:
        matching = ContactIdentity.objects.filter(customer=OuterRef("pk"), address__icontains=filters.q.lower())
        qs = qs.filter(Q(name__icontains=filters.q) | Q(Exists(matching)) | Q(company__name__icontains=filters.q))
    if filters.company:
        qs = qs.filter(company_id=filters.company)
    field, descending = {"recent": ("last_at", True), "name": ("key", False), "new": ("created_at", True)}[filters.sort]
    position = _contact_cursor(after, field)
    if position is not None:
        value, pk = position
        if descending:
            qs = qs.filter(Q(**{f"{field}__lt": value}) | Q(**{field: value, "pk__lt": pk}))
        else:
            qs = qs.filter(Q(**{f"{field}__gt": value}) | Q(**{field: value, "pk__gt": pk}))
    order = (F(field).desc(nulls_last=True), "-pk") if descending else (F(field).asc(), "pk")
    rows = list(
        qs.order_by(*order).prefetch_related(Prefetch("identities", ContactIdentity.objects.order_by("kind", "id")))[
            : limit + 1
        ]
    )
    page, more = rows[:limit], len(rows) > limit
    if not more:
        return page, ""
    last = page[-1]
    value = getattr(last, field)
    return page, f"{value.isoformat() if hasattr(value, 'isoformat') else value}|{last.pk}"


def _contact_cursor(after: str, field: str):
    value, _, pk = after.rpartition("|")
    if not pk.isdigit() or not value:
        return None
    if field in ("last_at", "created_at"):
        try:
            return datetime.fromisoformat(value), int(pk)
        except ValueError:
            return None
    return value, int(pk)


def contact_for_agent(*, user, customer_id: int) -> Customer | None:
    return visible_customers(user).select_related("company").filter(pk=customer_id).first()


def contact_history(*, customer: Customer, limit: int = 20):
    """What was changed about this contact, newest first (the audit log's entries about them)."""
    from inbox.models import AuditEntry

    return list(AuditEntry.objects.filter(target_type="customer", target_id=customer.pk).order_by("-at", "-id")[:limit])


def companies_with_counts(*, user):
    """The companies of people the agent may see, with how many of them (a company known only from
    other inboxes stays unknown here)."""
    people = (
        visible_customers(user).filter(company=OuterRef("pk")).values("company").annotate(n=Count("pk")).values("n")
    )
    return list(visible_companies(user).annotate(people_count=Coalesce(Subquery(people), 0)).order_by("name"))


def visible_companies(user):
    from customers.models import Company

    return Company.objects.filter(Exists(visible_customers(user).filter(company=OuterRef("pk"))))
