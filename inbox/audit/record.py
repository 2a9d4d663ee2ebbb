"""The audit log's one way in: every admin change and agent action worth answering for later."""

import json

from django.core.serializers.json import DjangoJSONEncoder

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
# A key that merely contains one of these is redacted too: callers name things freely
# ("webhook_secrets", "smtp_password", "imap.credentials"), and a leak is worse than a "(changed)".
SECRET_FRAGMENTS = ("password", "secret", "token", "credential", "signing_key", "api_key")

# The kinds of entry, with how the audit page offers them in its filter. Add yours here so that
# admins can pick it; the page filters by any kind in its address all the same.
ACTIONS = {
    "conversation.start": "Conversation started by an agent",
    "conversation.assign": "Conversation assigned",
    "conversation.team": "Conversation handed to a team",
    "conversation.priority": "Conversation priority changed",
    "conversation.status": "Conversation status changed",
    "conversation.labels": "Conversation labels changed",
    "customer.merge": "Customers merged",
    "customer.update": "Contact edited",
    "customer.identity_add": "Contact's address added",
    "customer.identity_remove": "Contact's address removed",
    "company.save": "Company saved",
    "customer.merge_undo": "Customer merge undone",
    "message.retry": "Failed reply retried",
    "canned.delete": "Canned response deleted",
    "inbox.create": "Inbox created",
    "inbox.update": "Inbox changed",
    "inbox.enable": "Inbox turned on",
    "inbox.disable": "Inbox turned off",
    "inbox.delete": "Inbox deleted",
    "inbox.rotate_secret": "Inbox secret rotated",
    "event.replay": "Inbound event replayed",
    "event.archive": "Failed inbound event archived",
    "person.invite": "Person invited",
    "person.update": "Person changed",
    "person.activate": "Person reactivated",
    "person.deactivate": "Person deactivated",
    "person.sign_out": "Person signed out everywhere",
    "team.create": "Team added",
    "team.update": "Team changed",
    "team.delete": "Team deleted",
    "label.create": "Label added",
    "label.update": "Label changed",
    "label.delete": "Label deleted",
    "canned.create": "Shared canned response added",
    "canned.update": "Shared canned response changed",
}


def _is_secret(key) -> bool:
    name = str(key).lower()
    return name in SECRET_KEYS or any(fragment in name for fragment in SECRET_FRAGMENTS)


def _redacted(details):
    # Nested too: a secret inside {"settings": {"smtp": {"password": …}}} is still a secret.
    if isinstance(details, dict):
        return {key: "(changed)" if _is_secret(key) else _redacted(value) for key, value in details.items()}
    if isinstance(details, list | tuple):
        return [_redacted(value) for value in details]
    return details


def actor_display(actor) -> str:
    """The name an entry keeps for its actor, as it is now ("system" for no one)."""
    if not getattr(actor, "pk", None):
        return "system"
    return (actor.get_full_name() or actor.get_username())[:150]


def audit_record(
    *, actor, action: str, summary: str, inbox=None, target=None, details: dict | None = None
) -> AuditEntry:
    """Record one action, in the caller's transaction (an action rolled back leaves no entry)."""
    # Through JSON and back: times, dates and decimals become text here rather than failing at save.
    safe_details = json.loads(json.dumps(_redacted(details or {}), cls=DjangoJSONEncoder))
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=actor_display(actor),
        action=action,
        inbox_id=getattr(inbox, "pk", inbox),
        target_type=target._meta.model_name if target is not None else "",
        target_id=target.pk if target is not None else None,
        summary=summary[:500],
        details=safe_details,
    )
