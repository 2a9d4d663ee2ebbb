"""What agents do to conversations: assign, hand to a team, change status or snooze, label, note,
mark read, and delete a canned response. Each change to a conversation is announced to every agent
of the inbox after commit (``listeners``)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone

from conversations import listeners, notifications, sla
from conversations.mentions import mentioned_agents
from conversations.models import CannedResponse, Conversation, ConversationRead, Label, Message, Notification
from conversations.reports import facts
from conversations.selectors import ListState
from conversations.status import status_locked, status_recorded
from inbox.audit.record import audit_record
from inbox.models import InboxMembership, SavedView, Team

BULK_ACTIONS = {"assign", "label", "resolve", "open"}
# The rules that may choose an assignee when no person does, as notifications and the log name them.
ASSIGNED_BY = {"round_robin": "Round-robin", "reply": "Replying"}
# How the audit log says what a status change did.
STATUS_VERBS = {"open": "Reopened", "pending": "Marked pending", "resolved": "Resolved", "snoozed": "Snoozed"}


class ActionRefused(ValueError):
    """The action makes no sense for this conversation (an assignee outside the inbox, a past snooze)."""


def _changed(conversation: Conversation, *, announce: bool = True, **fields) -> None:
    for name, value in fields.items():
        setattr(conversation, name, value)
    conversation.updated_at = timezone.now()
    Conversation.objects.filter(pk=conversation.pk).update(**fields, updated_at=conversation.updated_at)
    if announce:
        listeners.conversations_updated([conversation.pk])


def _hand_over(
    conversation: Conversation,
    *,
    actor,
    action: str,
    field: str,
    to: int | None,
    names: dict,
    summary: str,
    extra: dict | None = None,
    announce: bool = True,
) -> None:
    """Give the conversation to someone else (an agent, a team), audited with both names as they were."""
    previous = getattr(conversation, field)
    with transaction.atomic(savepoint=False):  # the change and its entry, together
        _changed(conversation, announce=announce, **{field: to})
        facts.conversation_reassigned(conversation)
        audit_record(
            actor=actor,
            action=action,
            summary=summary,
            inbox=conversation.inbox_id,
            target=conversation,
            details={
                "from": previous,
                "from_name": names.get(previous),
                "to": to,
                "to_name": names.get(to),
                **(extra or {}),
            },
        )


def conversation_assign(
    *, conversation: Conversation, assignee_id: int | None, actor, by: str = "", why: str = "", announce: bool = True
) -> None:
    """Hand the conversation to an agent of its inbox (None: to nobody); they are told. ``by`` names
    the rule that chose them when no person did (a key of ASSIGNED_BY), ``why`` what prompted it.
    ``announce=False`` when another event of the same transaction already shows the new state."""
    if assignee_id == conversation.assignee_id:
        return
    if (
        assignee_id is not None
        and not InboxMembership.objects.filter(
            inbox_id=conversation.inbox_id, user_id=assignee_id, user__is_active=True
        ).exists()
    ):
        raise ActionRefused("Only an agent of this inbox can be assigned.")
    previous_id = conversation.assignee_id
    names = {
        user.pk: _name(user)
        for user in get_user_model().objects.filter(pk__in=[pk for pk in (previous_id, assignee_id) if pk])
    }
    if assignee_id is None:
        summary = f"Unassigned {_about(conversation)} (was {names.get(previous_id, 'nobody')})"
    else:
        summary = f"Assigned {_about(conversation)} to {names.get(assignee_id)}"
        summary += f" (was {names[previous_id]})" if previous_id in names else ""
    if by:
        summary += f" by {ASSIGNED_BY[by].lower()}" + (f": {why}" if why else "")
    with transaction.atomic():
        _hand_over(
            conversation,
            actor=actor,
            action="conversation.assign",
            field="assignee_id",
            to=assignee_id,
            names=names,
            summary=summary,
            extra={"by": by, "why": why} if by else {},
            announce=announce,
        )
        if assignee_id:
            notifications.notify(
                user_ids=[assignee_id],
                kind=Notification.Kind.ASSIGNED,
                conversation=conversation,
                actor=actor,
                text=f"{ASSIGNED_BY[by] if by else _name(actor)} assigned you {conversation.customer.display_name}",
            )


def saved_view_save(*, user, name: str, query: str) -> SavedView:
    """Keep the list the agent is looking at under a name (saving a name again replaces it)."""
    name = " ".join(name.split())[:60]
    if not name:
        raise ActionRefused("Give the view a name.")
    # Only what ListState reads back survives: the saved address cannot carry anything else.
    query = ListState.from_query(QueryDict(query)).query
    view, _ = SavedView.objects.update_or_create(user=user, name=name, defaults={"query": query})
    return view


def saved_view_delete(*, user, view_id: int) -> bool:
    return SavedView.objects.filter(user=user, pk=view_id).delete()[0] > 0


def conversation_set_priority(*, conversation: Conversation, priority: int, actor) -> None:
    if priority not in Conversation.Priority.values:
        raise ActionRefused("No such priority.")
    if priority == conversation.priority:
        return
    before = Conversation.Priority(conversation.priority).label
    after = Conversation.Priority(priority).label
    with transaction.atomic():
        _changed(conversation, priority=priority)
        sla.policy_refresh(conversation)
        audit_record(
            actor=actor,
            action="conversation.priority",
            summary=f"Set the priority of {_about(conversation)} to {after} (was {before})",
            inbox=conversation.inbox_id,
            target=conversation,
            details={"from": before, "to": after},
        )


def conversation_set_team(*, conversation: Conversation, team_id: int | None, actor) -> None:
    if team_id == conversation.team_id:
        return
    previous_id = conversation.team_id
    names = dict(Team.objects.filter(pk__in=[pk for pk in (previous_id, team_id) if pk]).values_list("pk", "name"))
    if team_id is not None and team_id not in names:
        raise ActionRefused("No such team.")
    if team_id is None:
        summary = f"Took {_about(conversation)} from team {names.get(previous_id, '(deleted)')}"
    else:
        summary = f"Handed {_about(conversation)} to team {names[team_id]}"
        summary += f" (was {names[previous_id]})" if previous_id in names else ""
    _hand_over(
        conversation, actor=actor, action="conversation.team", field="team_id", to=team_id, names=names, summary=summary
    )


def conversation_set_status(
    *, conversation: Conversation, status: str, actor, snooze_until: datetime | None = None
) -> None:
    """Open, pend, resolve, or snooze until a time (the wake-up task reopens it then)."""
    if status not in Conversation.Status.values:
        raise ActionRefused(f"Unknown status {status!r}.")
    if status == Conversation.Status.SNOOZED:
        if snooze_until is None or snooze_until <= timezone.now():
            raise ActionRefused("Snooze until a time in the future.")
    else:
        snooze_until = None
    fields = {"status": status, "snoozed_until": snooze_until}
    if status == Conversation.Status.RESOLVED:
        fields["waiting_since"] = None  # nobody waits on a resolved conversation
    before_until = conversation.snoozed_until
    with transaction.atomic():
        before = status_locked(conversation.pk)
        _changed(conversation, **fields)
        status_recorded(conversation, before=before, after=status, at=conversation.updated_at, actor=actor)
        # Resolving a resolved conversation (a bulk action over a mixed selection) changed nothing
        # an admin needs to read about.
        if (status, snooze_until) != (before, before_until):
            # The time stays in the details, which the log shows in each reader's own time zone.
            summary = f"{STATUS_VERBS[status]} {_about(conversation)}"
            audit_record(
                actor=actor,
                action="conversation.status",
                summary=f"{summary} (was {before})",
                inbox=conversation.inbox_id,
                target=conversation,
                details={"from": before, "to": status, "snoozed_until": snooze_until and snooze_until.astimezone(UTC)},
            )


def conversation_set_labels(*, conversation: Conversation, label_ids: list[int], actor) -> None:
    labels = list(Label.objects.filter(pk__in=label_ids))
    before = {label.pk: label.name for label in conversation.labels.all()}
    after = {label.pk: label.name for label in labels}
    with transaction.atomic():
        conversation.labels.set(labels)
        _changed(conversation)
        sla.policy_refresh(conversation)
        added = sorted(name for pk, name in after.items() if pk not in before)
        removed = sorted(name for pk, name in before.items() if pk not in after)
        if added or removed:
            _audit_labels(conversation=conversation, actor=actor, added=added, removed=removed)


def _audit_labels(*, conversation: Conversation, actor, added: list[str], removed: list[str], bulk=False) -> None:
    changes = [f"added {', '.join(added)}"] if added else []
    changes += [f"removed {', '.join(removed)}"] if removed else []
    audit_record(
        actor=actor,
        action="conversation.labels",
        summary=f"Labels of {_about(conversation)}: {'; '.join(changes)}",
        inbox=conversation.inbox_id,
        target=conversation,
        details={"added": added, "removed": removed, **({"bulk": True} if bulk else {})},
    )


def conversations_bulk(*, conversations: list[Conversation], action: str, value: str, actor) -> int:
    """Apply one action to many conversations (the caller loaded them within the agent's inboxes).
    Returns how many it changed; one the action cannot apply to (an assignee outside its inbox) is
    left as it was."""
    if action not in BULK_ACTIONS:
        raise ActionRefused(f"Unknown bulk action {action!r}.")
    label = Label.objects.filter(pk=int(value)).first() if action == "label" and value.isdigit() else None
    if action == "label" and label is None:
        raise ActionRefused("No such label.")
    changed = 0
    # Each changed conversation gets its own audit entry (the single actions reused below record
    # theirs): the log then answers "who touched this conversation?" and filters by inbox like any
    # other. A label a conversation already had is no change, so no entry.
    labelled = (
        set(
            Conversation.labels.through.objects.filter(
                label=label, conversation_id__in=[c.pk for c in conversations]
            ).values_list("conversation_id", flat=True)
        )
        if label
        else set()
    )
    with transaction.atomic():
        for conversation in conversations:
            if action == "assign":
                try:
                    conversation_assign(conversation=conversation, assignee_id=_int_or_none(value), actor=actor)
                except ActionRefused:
                    continue
            elif action == "label":
                conversation.labels.add(label)
                _changed(conversation)
                sla.policy_refresh(conversation)
                if conversation.pk not in labelled:
                    _audit_labels(conversation=conversation, actor=actor, added=[label.name], removed=[], bulk=True)
            else:
                status = Conversation.Status.RESOLVED if action == "resolve" else Conversation.Status.OPEN
                conversation_set_status(conversation=conversation, status=status, actor=actor)
            changed += 1
    return changed


def _int_or_none(value: str) -> int | None:
    if value and not value.isdigit():
        raise ActionRefused("Not an agent.")
    return int(value) if value else None


def conversations_wake_snoozed(*, now: datetime | None = None) -> list[int]:
    """Reopen every conversation whose snooze has ended and tell each one's assignee."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Conversation.objects.select_for_update(skip_locked=True)
            .filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=now)
            .select_related("customer")
        )
        if not due:
            return []
        Conversation.objects.filter(pk__in=[c.pk for c in due]).update(
            status=Conversation.Status.OPEN, snoozed_until=None, updated_at=now
        )
        for conversation in due:
            conversation.status = Conversation.Status.OPEN
            status_recorded(conversation, before=Conversation.Status.SNOOZED, after=conversation.status, at=now)
            audit_record(
                actor=None,  # the beat task: "system"
                action="conversation.status",
                summary=f"Snooze ended: reopened {_about(conversation)}",
                inbox=conversation.inbox_id,
                target=conversation,
                details={"from": "snoozed", "to": "open", "snoozed_until": conversation.snoozed_until},
            )
            if conversation.assignee_id:
                notifications.notify(
                    user_ids=[conversation.assignee_id],
                    kind=Notification.Kind.SNOOZE_ENDED,
                    conversation=conversation,
                    text=f"Snooze ended: {conversation.customer.display_name}",
                )
        listeners.conversations_updated([c.pk for c in due])
    return [c.pk for c in due]


def note_add(*, conversation: Conversation, author, text: str) -> Message:
    """A private note for the team: never sent; an @username of the inbox's agents notifies them."""
    text = text.strip()
    if not text:
        raise ActionRefused("A note needs text.")
    with transaction.atomic():
        note = Message.objects.create(
            conversation=conversation,
            inbox_id=conversation.inbox_id,
            direction=Message.Direction.NOTE,
            sender_type=Message.Sender.AGENT,
            author=author,
            text=text,
            status=Message.Status.RECEIVED,
            sent_at=timezone.now(),
        )
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
        listeners.message_created(note)
        mentioned = mentioned_agents(inbox_id=conversation.inbox_id, text=text)
        notifications.notify(
            user_ids=[user.pk for user in mentioned],
            kind=Notification.Kind.MENTION,
            conversation=conversation,
            message=note,
            actor=author,
            text=f"{_name(author)} mentioned you: {text[:150]}",
        )
    return note


def conversation_mark_read(*, user, conversation_id: int) -> None:
    """The agent has seen the conversation as it is now (one upsert)."""
    ConversationRead.objects.bulk_create(
        [ConversationRead(user=user, conversation_id=conversation_id, read_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["conversation", "user"],
        update_fields=["read_at"],
    )


def notifications_mark_read(*, user, ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


def canned_response_delete(*, canned: CannedResponse, actor) -> None:
    """Delete a canned response (the caller checked it is the actor's to delete), and log it."""
    whose = "personal" if canned.owner_id else "team" if canned.team_id else "shared"
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="canned.delete",
            summary=f"Deleted the {whose} canned response /{canned.shortcut}",
            target=canned,
            # A shared or team response's text is kept so that an admin can put it back; a personal
            # one's is its owner's business.
            details={"shortcut": canned.shortcut, "owner_id": canned.owner_id, "team_id": canned.team_id}
            | ({"text": canned.text} if whose != "personal" else {}),
        )
        canned.delete()


def _name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else "Someone"


def _about(conversation: Conversation) -> str:
    # The customer's name as it was then: a later rename or merge leaves the entry readable.
    return f"conversation #{conversation.pk} ({conversation.customer.display_name})"
