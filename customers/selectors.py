from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from conversations.selectors import visible_inbox_ids
from customers.models import ContactIdentity, Customer


def customer_identities(*, user, customer_id: int) -> list[ContactIdentity]:
    """The customer's addresses seen in inboxes the agent belongs to; others stay private."""
    from conversations.models import Conversation, Message

    visible = visible_inbox_ids(user)
    # Exists, not joins with DISTINCT: a long-time customer has thousands of messages to join.
    wrote_here = Message.objects.filter(identity=OuterRef("pk"), inbox_id__in=visible)
    runs_here = Conversation.objects.filter(identity=OuterRef("pk"), inbox_id__in=visible)
    return list(
        ContactIdentity.objects.filter(customer_id=customer_id)
        .filter(Exists(wrote_here) | Exists(runs_here))
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
