from django.db import IntegrityError, transaction

from customers.models import ContactIdentity, Customer
from inbox.connectors.base import IdentityClaim


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
        .select_for_update(of=("customer",))
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
    for key, value in (claims or {}).items():
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
    if changed:
        customer.save(update_fields=["name", "attributes", "updated_at"])
    return identity
