import json

from django.contrib.auth import get_user_model
from django.db import transaction

from inbox.audit.record import audit_record
from inbox.connectors.contract import webhook_url
from inbox.connectors.email.providers import provider_webhook_urls
from inbox.connectors.email.tasks import imap_backoff_reset
from inbox.connectors.webchat.snippets import widget_snippet
from inbox.models import Inbox, InboxMembership, new_secret
from inbox.realtime.publisher import agents_access_changed

MODEL_SETTINGS = {"on_resolved_reply", "reopen_within_days"}


def _value(text: str):
    """Read a --set value: JSON where it parses (lists, numbers, booleans), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def inbox_create(*, kind: str, name: str, options: dict[str, str] | None = None, members: list[str] = ()) -> Inbox:
    """Create an inbox; options are ``on_resolved_reply``, ``credentials.KEY`` or free-form settings."""
    if kind not in Inbox.Kind.values:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(Inbox.Kind.values)}")
    inbox = Inbox(kind=kind, name=name, settings={}, credentials={})
    for key, raw in (options or {}).items():
        if key in MODEL_SETTINGS:
            setattr(inbox, key, raw)
        elif key.startswith("credentials."):
            inbox.credentials[key.removeprefix("credentials.")] = _value(raw)
        elif key == "secret":
            inbox.secret = raw
        else:
            inbox.settings[key] = _value(raw)
    inbox.full_clean(exclude=["public_token", "secret"])
    users = list(get_user_model().objects.filter(username__in=members))
    missing = set(members) - {u.username for u in users}
    if missing:
        raise ValueError(f"no such user(s): {', '.join(sorted(missing))}")
    with transaction.atomic():
        inbox.save()
        InboxMembership.objects.bulk_create([InboxMembership(inbox=inbox, user=u) for u in users])
        agents_access_changed(u.pk for u in users)
    return inbox


def membership_add(*, inbox: Inbox, user) -> None:
    with transaction.atomic():
        _, created = InboxMembership.objects.get_or_create(inbox=inbox, user=user)
        if created:
            agents_access_changed([user.pk])


def membership_remove(*, inbox: Inbox, user) -> None:
    """Take an agent off an inbox; their open sockets stop hearing it at once."""
    with transaction.atomic():
        InboxMembership.objects.filter(inbox=inbox, user=user).delete()
        agents_access_changed([user.pk])


def inbox_describe(inbox: Inbox, *, with_secret: bool = False) -> dict:
    """What an admin needs to connect the channel: ids, and where the provider or website points.

    The secret is shown once, when the inbox is created (or its secret rotated), never in listings.
    """
    data = {"id": inbox.pk, "kind": inbox.kind, "name": inbox.name, "public_token": inbox.public_token}
    if inbox.kind == Inbox.Kind.WEBCHAT:
        data["widget_snippet"] = widget_snippet(inbox)
        if with_secret:
            # Websites compute identity_hash = HMAC-SHA256(identity_secret, email) on their server.
            data["identity_secret"] = inbox.secret
    else:
        data["webhook_url"] = webhook_url(inbox)
        if inbox.kind == Inbox.Kind.EMAIL:
            data["provider_webhook_urls"] = provider_webhook_urls(inbox)
        if with_secret:
            data["webhook_secret"] = inbox.secret
    return data


def inbox_save(*, inbox: Inbox, form, actor) -> Inbox:
    """Create or update an inbox from its settings form; members who gain or lose it hear at once."""
    creating = inbox.pk is None
    changes = form.apply(inbox)
    wanted = {user.pk for user in form.cleaned_data["members"]}
    with transaction.atomic():
        inbox.save()
        current = set(inbox.memberships.values_list("user_id", flat=True))
        InboxMembership.objects.filter(inbox=inbox, user_id__in=current - wanted).delete()
        InboxMembership.objects.bulk_create([InboxMembership(inbox=inbox, user_id=pk) for pk in wanted - current])
        if current != wanted:
            changes["members"] = {"added": sorted(wanted - current), "removed": sorted(current - wanted)}
        agents_access_changed(current ^ wanted)
        if changes and inbox.kind == Inbox.Kind.EMAIL:
            imap_backoff_reset(inbox.pk)
        if creating or changes:
            verb = "created" if creating else "changed"
            audit_record(
                actor=actor,
                action="inbox.create" if creating else "inbox.update",
                summary=f"{verb} inbox “{inbox.name}” ({inbox.get_kind_display()})"
                + ("" if creating else f": {', '.join(sorted(changes))}"),
                inbox=inbox,
                target=inbox,
                details=changes,
            )
    return inbox


def inbox_set_active(*, inbox: Inbox, active: bool, actor) -> None:
    """Disable an inbox (its webhooks answer 404, its mailbox is not polled, nothing is lost) or
    enable it again."""
    with transaction.atomic():
        Inbox.objects.filter(pk=inbox.pk).update(is_active=active)
        inbox.is_active = active
        audit_record(
            actor=actor,
            action="inbox.enable" if active else "inbox.disable",
            summary=f"{'enabled' if active else 'disabled'} inbox “{inbox.name}”",
            inbox=inbox,
            target=inbox,
        )


class InboxInUse(Exception):
    """An inbox with conversations cannot be deleted: that would lose them. Disable it instead."""


def inbox_delete(*, inbox: Inbox, actor) -> None:
    from conversations.models import Conversation, InboundEvent

    with transaction.atomic():
        if Conversation.objects.filter(inbox=inbox).exists() or InboundEvent.objects.filter(inbox=inbox).exists():
            raise InboxInUse(f"“{inbox.name}” has received messages: disable it instead, so that none is lost.")
        members = list(inbox.memberships.values_list("user_id", flat=True))
        audit_record(
            actor=actor,
            action="inbox.delete",
            summary=f"deleted inbox “{inbox.name}” ({inbox.get_kind_display()})",
            details={"inbox_id": inbox.pk},
        )
        inbox.delete()
        agents_access_changed(members)


def inbox_secret_rotate(*, inbox: Inbox, actor, keep_previous: bool = True) -> str:
    """Give the inbox a new secret; the old one keeps working (``previous_secrets``) until the next
    rotation, so a website or mail server can be switched over without a gap."""
    with transaction.atomic():
        inbox = Inbox.objects.select_for_update().get(pk=inbox.pk)
        previous = [inbox.secret] if keep_previous else []
        inbox.credentials = {**(inbox.credentials or {}), "previous_secrets": previous}
        inbox.secret = new_secret()
        inbox.save(update_fields=["secret", "credentials"])
        audit_record(
            actor=actor,
            action="inbox.rotate_secret",
            summary=f"rotated the secret of inbox “{inbox.name}”",
            inbox=inbox,
            target=inbox,
        )
    return inbox.secret
