"""Teams, labels and shared canned responses: saved and deleted with an audit entry, and team
membership changes told to the sockets of whoever joined or left."""

from django.db import models, transaction

from conversations.models import CannedResponse
from inbox.audit.record import audit_record
from inbox.models import Team
from inbox.realtime.publisher import agents_access_changed


class TeamInUse(Exception):
    """A team still holding canned responses: deleting it would delete them with it."""


def _members(obj) -> set[int]:
    return set(obj.members.values_list("pk", flat=True)) if isinstance(obj, Team) and obj.pk else set()


def catalog_item_save(*, form, noun: str, actor) -> models.Model:
    """Save a validated model form of a team, label or shared canned response."""
    creating = form.instance.pk is None
    before = _members(form.instance)
    with transaction.atomic():
        obj = form.save()
        if isinstance(obj, Team):
            # Team views and team canned responses appear or vanish for whoever joined or left.
            agents_access_changed(before ^ _members(obj))
        audit_record(
            actor=actor,
            action=f"{noun.split()[0]}.{'create' if creating else 'update'}",
            summary=f"{'added' if creating else 'changed'} {noun} “{obj}”",
            target=obj,
            details={name: str(form.cleaned_data[name]) for name in form.changed_data if name != "members"},
        )
    return obj


def catalog_item_delete(*, obj: models.Model, noun: str, actor) -> None:
    if isinstance(obj, Team) and (held := CannedResponse.objects.filter(team=obj).count()):
        raise TeamInUse(f"“{obj}” still has {held} canned response(s): move or delete them first.")
    with transaction.atomic():
        members = _members(obj)
        audit_record(actor=actor, action=f"{noun.split()[0]}.delete", summary=f"deleted {noun} “{obj}”")
        obj.delete()
        agents_access_changed(members)
