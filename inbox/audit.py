"""The audit log's one way in: every admin change and agent action worth answering for later."""

from inbox.models import AuditEntry

# Keys whose values never go into the log, whatever a caller passes.
SECRET_KEYS = {
    "password",
    "secret",
    "auth_token",
    "app_secret",
    "page_access_token",
    "verify_token",
    "inbound_signing_key",
    "credentials",
}


def _redacted(details: dict) -> dict:
    return {key: "(changed)" if key in SECRET_KEYS else value for key, value in details.items()}


def audit_record(
    *, actor, action: str, summary: str, inbox=None, target=None, details: dict | None = None
) -> AuditEntry:
    """Record one action, in the caller's transaction (an action rolled back leaves no entry)."""
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=(actor.get_full_name() or actor.get_username()) if getattr(actor, "pk", None) else "system",
        action=action,
        inbox_id=getattr(inbox, "pk", inbox),
        target_type=target._meta.model_name if target is not None else "",
        target_id=target.pk if target is not None else None,
        summary=summary[:500],
        details=_redacted(details or {}),
    )
