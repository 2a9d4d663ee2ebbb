"""People: invitations, roles, inbox and team membership, deactivation. Every change is audited,
and whoever gains or loses access hears it on their open sockets at once."""

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction

from conversations.actions import conversation_assign
from conversations.models import Conversation
from inbox.accounts.invitations import invitation_url
from inbox.accounts.sessions import sessions_revoke_all
from inbox.audit.record import audit_record
from inbox.models import InboxMembership, Team
from inbox.realtime.publisher import agents_access_changed


def person_invite(*, actor, email: str, first_name: str, last_name: str, is_admin: bool, inboxes, teams) -> tuple:
    """Create the account (no password yet) and mail the link that sets one; return (user, link)."""
    username = email.strip().lower()
    with transaction.atomic():
        user = get_user_model()(
            username=username, email=username, first_name=first_name, last_name=last_name, is_staff=is_admin
        )
        user.set_unusable_password()
        user.save()
        _set_access(user, inboxes=inboxes, teams=teams)
        audit_record(
            actor=actor,
            action="person.invite",
            summary=f"invited {user.get_full_name() or username} as {'admin' if is_admin else 'agent'}",
            target=user,
            details={"inboxes": sorted(i.pk for i in inboxes), "teams": sorted(t.pk for t in teams)},
        )
    link = invitation_url(user)
    send_mail(
        subject="You are invited to the support inbox",
        message=f"{actor.get_full_name() or actor.get_username()} invited you. Choose your password here:\n\n{link}\n",
        from_email=None,
        recipient_list=[user.email],
        fail_silently=True,  # the admin sees the link on the page and can pass it on themselves
    )
    return user, link


def person_update(*, actor, user, first_name: str, last_name: str, email: str, is_admin: bool, inboxes, teams) -> None:
    if user.pk == actor.pk and not is_admin:
        raise ValueError("You cannot take away your own admin role: ask another admin.")
    before = _describe(user)
    with transaction.atomic():
        user.first_name, user.last_name, user.email, user.is_staff = first_name, last_name, email, is_admin
        fields = ["first_name", "last_name", "email", "is_staff"]
        if "@" in user.username:
            # Invited people sign in with their email: a corrected email is their new sign-in name.
            user.username = email
            fields.append("username")
        user.save(update_fields=fields)
        _set_access(user, inboxes=inboxes, teams=teams)
        after = _describe(user)
        changed = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
        if changed:
            audit_record(
                actor=actor,
                action="person.update",
                summary=f"changed {user.get_full_name() or user.get_username()}: {', '.join(sorted(changed))}",
                target=user,
                details=changed,
            )


def person_set_active(*, actor, user, active: bool) -> int:
    """Deactivate (signed out everywhere, sockets closed at once, open conversations handed back to
    the unassigned list) or reactivate an account. Returns how many conversations were unassigned."""
    if user.pk == actor.pk:
        raise ValueError("You cannot deactivate yourself.")
    unassigned = 0
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        if not active:
            sessions_revoke_all(user=user)
            for conversation in Conversation.objects.filter(assignee=user).exclude(status=Conversation.Status.RESOLVED):
                conversation_assign(conversation=conversation, assignee_id=None, actor=actor)
                unassigned += 1
        agents_access_changed([user.pk])
        audit_record(
            actor=actor,
            action="person.activate" if active else "person.deactivate",
            summary=f"{'reactivated' if active else 'deactivated'} {user.get_full_name() or user.get_username()}"
            + (f"; {unassigned} open conversation(s) unassigned" if unassigned else ""),
            target=user,
        )
    return unassigned


def person_sign_out_everywhere(*, actor, user) -> int:
    with transaction.atomic():
        count = sessions_revoke_all(user=user)
        audit_record(
            actor=actor,
            action="person.sign_out",
            summary=f"signed {user.get_full_name() or user.get_username()} out everywhere ({count} session(s))",
            target=user,
        )
    return count


def _set_access(user, *, inboxes, teams) -> None:
    wanted = {inbox.pk for inbox in inboxes}
    current = set(InboxMembership.objects.filter(user=user).values_list("inbox_id", flat=True))
    InboxMembership.objects.filter(user=user, inbox_id__in=current - wanted).delete()
    InboxMembership.objects.bulk_create([InboxMembership(user=user, inbox_id=pk) for pk in wanted - current])
    user.teams.set(teams)
    if wanted != current:
        agents_access_changed([user.pk])


def _describe(user) -> dict:
    return {
        "name": user.get_full_name(),
        "email": user.email,
        "username": user.get_username(),
        "role": "admin" if user.is_staff else "agent",
        "inboxes": sorted(InboxMembership.objects.filter(user=user).values_list("inbox_id", flat=True)),
        "teams": sorted(Team.objects.filter(members=user).values_list("pk", flat=True)),
    }
