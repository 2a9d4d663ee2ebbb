from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import listeners
from conversations.reports.facts import customer_attribution_refresh
from customers.models import ContactIdentity, Customer, CustomerMerge
from inbox.audit.record import audit_record
from inbox.connectors.contract import IdentityClaim


def identity_get_or_create(
    *, claim: IdentityClaim, customer: Customer | None = None, name: str = ""
) -> ContactIdentity:
    """Find the identity for a claim, creating it (and a customer) when new.

    Safe under concurrency: the (kind, address) constraint decides which writer wins; the loser
    reads the winner's row.
    """
    existing = ContactIdentity.objects.select_related("customer").filter(kind=claim.kind, address=claim.address).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            owner = customer or Customer.objects.create(name=name)
            return ContactIdentity.objects.create(
                customer=owner,
                kind=claim.kind,
                address=claim.address,
                display=claim.display or claim.address,
                verified=claim.verified,
            )
    except IntegrityError:
        return ContactIdentity.objects.select_related("customer").get(kind=claim.kind, address=claim.address)


def _identity_with_customer_locked(claim: IdentityClaim) -> ContactIdentity | None:
    return (
        ContactIdentity.objects.select_related("customer")
        # The identity row too: a merge moving it elsewhere must be waited for, then seen.
        .select_for_update(of=("self", "customer"))
        .filter(kind=claim.kind, address=claim.address)
        .first()
    )


def customer_resolve(
    *, sender: IdentityClaim, verified_links: tuple[IdentityClaim, ...] = (), name: str = "", claims: dict | None = None
) -> ContactIdentity:
    """Return the sender's identity, attached to the right customer, whose row stays locked until the
    transaction ends (one writer per customer at a time).

    A verified link (an email the website vouched for) attaches a new sender identity to the customer
    who owns that email. Unverified claims never attach anyone to anyone: they are recorded on the
    sender's own customer, with a pointer to a possible match for an agent to judge.
    """
    identity = _identity_with_customer_locked(sender)
    if identity is None:
        owner = None
        for link in verified_links:
            owner = identity_get_or_create(claim=link, name=name).customer
            break
        identity_get_or_create(claim=sender, customer=owner, name=name)
        identity = _identity_with_customer_locked(sender)
    customer = identity.customer
    changed = False
    if name and not customer.name:
        customer.name, changed = name, True
    changed = _claims_apply(customer, claims or {}) or changed
    if changed:
        customer.save(update_fields=["name", "attributes", "updated_at"])
    return identity


def _claims_apply(customer: Customer, claims: dict) -> bool:
    changed = False
    for key, value in claims.items():
        if customer.attributes.get(key) == value:
            continue
        customer.attributes[key], changed = value, True
        if key == "unverified_email":
            match = (
                ContactIdentity.objects.filter(kind="email", address=value.strip().lower())
                .exclude(customer=customer)
                .first()
            )
            customer.attributes["possible_match_customer_id"] = match.customer_id if match else None
    return changed


def customer_claims_record(*, customer: Customer, claims: dict) -> None:
    """What a customer says of themself (an email to be answered at), kept as said: never a link to
    anyone, at most a pointer to a possible match for an agent to judge."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if _claims_apply(customer, claims):
            customer.save(update_fields=["attributes", "updated_at"])
    customers_announce(customer.pk)


def customer_merge(*, source: Customer, target: Customer, actor=None) -> CustomerMerge:
    """Make two customers one (say, the one who texted and the one who emailed): the source's
    identities and conversations become the target's, so one timeline shows every channel. The
    source stays, marked merged, and the merge records what moved so that it can be undone."""
    from conversations.models import Conversation

    if source.pk == target.pk:
        raise ValueError("A customer cannot be merged with themselves.")
    with transaction.atomic():
        source, target = _locked(source.pk, target.pk)
        if source.merged_into_id or target.merged_into_id:
            raise ValueError("One of these customers was already merged into another.")
        record = CustomerMerge(
            source=source,
            target=target,
            identity_ids=list(ContactIdentity.objects.filter(customer=source).values_list("pk", flat=True)),
            conversation_ids=list(Conversation.objects.filter(customer=source).values_list("pk", flat=True)),
            target_name_before=target.name,
            target_attributes_before=target.attributes,
            merged_by=actor,
        )
        ContactIdentity.objects.filter(pk__in=record.identity_ids).update(customer=target)
        Conversation.objects.filter(pk__in=record.conversation_ids).update(customer=target, updated_at=timezone.now())
        target.name = target.name or source.name
        target.attributes = {**source.attributes, **target.attributes}
        target.save(update_fields=["name", "attributes", "updated_at"])
        source.merged_into = target
        source.save(update_fields=["merged_into", "updated_at"])
        record.save()
        customer_attribution_refresh(target.pk)
        moved = f"{_count(len(record.conversation_ids), 'conversation')}, {_count(len(record.identity_ids), 'address')}"
        _audit_merge(
            actor=actor,
            action="customer.merge",
            summary=f"Merged {_who(source)} into {_who(target)}: {moved} moved",
            target=target,
            merge=record,
        )
        customers_announce(target.pk)
    return record


def customer_merge_undo(*, merge: CustomerMerge, actor=None) -> Customer:
    """Give the source back exactly what moved: its identities and conversations (with any message
    that arrived on them since), and the target its name and attributes as they were."""
    from conversations.models import Conversation

    with transaction.atomic():
        merge = CustomerMerge.objects.select_for_update().get(pk=merge.pk)
        if merge.undone_at:
            raise ValueError("This merge was already undone.")
        source, target = _locked(merge.source_id, merge.target_id)
        ContactIdentity.objects.filter(pk__in=merge.identity_ids, customer=target).update(customer=source)
        Conversation.objects.filter(pk__in=merge.conversation_ids, customer=target).update(
            customer=source, updated_at=timezone.now()
        )
        target.name, target.attributes = merge.target_name_before, merge.target_attributes_before
        target.save(update_fields=["name", "attributes", "updated_at"])
        source.merged_into = None
        source.save(update_fields=["merged_into", "updated_at"])
        merge.undone_at = timezone.now()
        merge.save(update_fields=["undone_at"])
        customer_attribution_refresh(source.pk)
        customer_attribution_refresh(target.pk)
        _audit_merge(
            actor=actor,
            action="customer.merge_undo",
            summary=f"Undid the merge of {_who(source)} into {_who(target)}",
            target=source,
            merge=merge,
        )
        customers_announce(source.pk, target.pk)
    return source


# Open workspaces show the customer's name on every row and header of theirs: they hear of the most
# recently active of the conversations a merge touched (older rows show it when next loaded).
ANNOUNCED_AFTER_MERGE = 200


def customers_announce(*customer_ids: int) -> None:
    from conversations.models import Conversation

    latest = Conversation.objects.filter(customer_id__in=customer_ids).order_by("-last_message_at", "-id")
    listeners.conversations_updated(list(latest.values_list("pk", flat=True)[:ANNOUNCED_AFTER_MERGE]))


def _audit_merge(*, actor, action: str, summary: str, target: Customer, merge: CustomerMerge) -> None:
    from conversations.models import Conversation

    # A customer belongs to no one inbox: the entry names one when every conversation the merge
    # touched is in the same inbox (so the inbox filter finds it), and lists them all in details.
    inbox_ids = sorted(
        Conversation.objects.filter(customer_id__in=[merge.source_id, merge.target_id])
        .values_list("inbox_id", flat=True)
        .distinct()
    )
    audit_record(
        actor=actor,
        action=action,
        summary=summary,
        inbox=inbox_ids[0] if len(inbox_ids) == 1 else None,
        target=target,
        details={
            "merge_id": merge.pk,
            "source_id": merge.source_id,
            "target_id": merge.target_id,
            "conversation_ids": merge.conversation_ids,
            "identity_ids": merge.identity_ids,
            "inbox_ids": inbox_ids,
        },
    )


def _who(customer: Customer) -> str:
    return f"customer #{customer.pk} ({customer.display_name})" if customer.name else f"customer #{customer.pk}"


def _count(n: int, noun: str) -> str:
    plural = "addresses" if noun == "address" else f"{noun}s"
    return f"{n} {noun if n == 1 else plural}"


def _locked(*pks: int) -> list[Customer]:
    # Locked in a fixed order: ingest locks a customer row too, so no message lands on either
    # customer half-way through.
    locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=pks).order_by("pk")}
    return [locked[pk] for pk in pks]


def customer_notes_update(*, customer: Customer, notes: str) -> None:
    customer.notes = notes[:10_000]
    customer.save(update_fields=["notes", "updated_at"])
