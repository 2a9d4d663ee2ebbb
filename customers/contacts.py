"""Editing a contact: their name, company, addresses and custom attributes, each change audited, and
the agents' screens told at once."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from customers.models import Company, ContactIdentity, Customer
from customers.services import customers_announce
from inbox.audit.record import audit_record

MAX_ATTRIBUTES = 50
# Set by the system (an unverified claim's pointers), not edited by hand.
RESERVED_ATTRIBUTES = {"possible_match_customer_id", "unverified_email"}


class ContactRefused(ValueError):
    """Why a change cannot be made, in a sentence for the agent."""


def contact_update(*, customer: Customer, actor, name: str, company: str, attributes: dict[str, str]) -> list[str]:
    """Save what the contact form says; return what changed (nothing changed: nothing recorded)."""
    name, company = " ".join(name.split())[:200], " ".join(company.split())[:200]
    attributes = {" ".join(k.split())[:100]: str(v).strip()[:1000] for k, v in attributes.items() if k.strip()}
    if len(attributes) > MAX_ATTRIBUTES:
        raise ContactRefused(f"A contact keeps at most {MAX_ATTRIBUTES} attributes.")
    if reserved := RESERVED_ATTRIBUTES & set(attributes):
        raise ContactRefused(f"“{sorted(reserved)[0]}” is kept by the system; choose another name.")
    with transaction.atomic():
        customer = Customer.objects.select_for_update(of=("self",)).select_related("company").get(pk=customer.pk)
        kept = {k: v for k, v in customer.attributes.items() if k in RESERVED_ATTRIBUTES}
        changes = {}
        if name != customer.name:
            changes["name"] = {"from": customer.name, "to": name}
        before_company = customer.company.name if customer.company else ""
        if company != before_company:
            changes["company"] = {"from": before_company, "to": company}
            customer.company = Company.objects.get_or_create(name=company)[0] if company else None
        editable = {k: v for k, v in customer.attributes.items() if k not in RESERVED_ATTRIBUTES}
        if attributes != editable:
            changes["attributes"] = {"from": editable, "to": attributes}
        if not changes:
            return []
        customer.name, customer.attributes = name, {**attributes, **kept}
        customer.save(update_fields=["name", "company", "attributes", "updated_at"])
        _audit(
            actor,
            "customer.update",
            f"changed {', '.join(sorted(changes))} of {customer.display_name}",
            customer,
            changes,
        )
        customers_announce(customer.pk)
    return sorted(changes)


def identity_add(*, customer: Customer, actor, kind: str, raw: str) -> ContactIdentity:
    """Give the contact another email address or phone number, if no one else has it."""
    address, display = _normalized(kind, raw)
    owner = ContactIdentity.objects.filter(kind=kind, address=address).select_related("customer").first()
    if owner:
        if owner.customer_id == customer.pk:
            raise ContactRefused(f"{display} is already theirs.")
        raise ContactRefused(f"{display} belongs to {owner.customer.display_name}: merge the two contacts instead.")
    try:
        with transaction.atomic():
            identity = ContactIdentity.objects.create(customer=customer, kind=kind, address=address, display=display)
            _audit(
                actor,
                "customer.identity_add",
                f"added {display} to {customer.display_name}",
                customer,
                {"kind": kind, "address": address},
            )
    except IntegrityError:
        raise ContactRefused(f"{display} was just given to someone else.") from None
    customers_announce(customer.pk)
    return identity


def identity_remove(*, customer: Customer, actor, identity_id: int) -> None:
    """Take an address off the contact: only one no conversation runs on and no message came from."""
    identity = ContactIdentity.objects.filter(pk=identity_id, customer=customer).first()
    if identity is None:
        raise ContactRefused("That address is not theirs.")
    if identity.conversations.exists() or identity.messages.exists():
        raise ContactRefused(
            f"{identity.display or identity.address} has conversations: it stays, so they stay reachable."
        )
    with transaction.atomic():
        identity.delete()
        _audit(
            actor,
            "customer.identity_remove",
            f"removed {identity.display or identity.address} from {customer.display_name}",
            customer,
            {"kind": identity.kind, "address": identity.address},
        )
    customers_announce(customer.pk)


def company_save(*, company: Company | None, actor, name: str, domain: str, notes: str) -> Company:
    name = " ".join(name.split())[:200]
    if not name:
        raise ContactRefused("A company needs a name.")
    if Company.objects.filter(name=name).exclude(pk=getattr(company, "pk", None)).exists():
        raise ContactRefused(f"There is a company called {name} already.")
    with transaction.atomic():
        company = company or Company()
        company.name, company.domain, company.notes = name, domain.strip().lower()[:253], notes[:10_000]
        company.save()
        audit_record(
            actor=actor,
            action="company.save",
            summary=f"saved company {name}",
            target=company,
            details={"name": name, "domain": company.domain},
        )
    return company


def _normalized(kind: str, raw: str) -> tuple[str, str]:
    raw = raw.strip()
    if kind == ContactIdentity.Kind.EMAIL:
        address = raw.lower()
        try:
            validate_email(address)
        except ValidationError:
            raise ContactRefused(f"“{raw}” is not an email address.") from None
        return address, address
    if kind == ContactIdentity.Kind.PHONE:
        try:
            number = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_possible_number(number):
            raise ContactRefused(
                f"“{raw}” is not a phone number: write it with its country code, like +44 20 7946 0000."
            )
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    raise ContactRefused("Only email addresses and phone numbers can be added by hand.")


def _audit(actor, action: str, summary: str, customer: Customer, details: dict) -> None:
    audit_record(
        actor=actor, action=action, summary=summary[:1].upper() + summary[1:], target=customer, details=details
    )
