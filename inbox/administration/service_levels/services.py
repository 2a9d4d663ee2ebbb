"""SLA policies saved and deleted with an audit entry; the conversations not yet resolved then take
the policy that applies to them now (a task: there may be many)."""

from __future__ import annotations

from django.db import transaction

from conversations import sla
from conversations.models import SlaPolicy
from inbox.audit.record import audit_record


def policy_save(*, form, actor) -> SlaPolicy:
    creating = form.instance.pk is None
    with transaction.atomic():
        policy = form.save()
        audit_record(
            actor=actor,
            action=f"sla_policy.{'create' if creating else 'update'}",
            summary=f"{'added' if creating else 'changed'} the SLA policy “{policy}”",
            target=policy,
            details={name: str(form.cleaned_data[name]) for name in form.changed_data},
        )
        transaction.on_commit(lambda: sla.policies_reapply_task.delay())
    return policy


def policy_delete(*, policy: SlaPolicy, actor) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="sla_policy.delete", summary=f"deleted the SLA policy “{policy}”")
        policy.delete()
        transaction.on_commit(lambda: sla.policies_reapply_task.delay())
