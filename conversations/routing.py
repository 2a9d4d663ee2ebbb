"""Who gets a new conversation: round-robin among an inbox's online agents, within its capacity.

In an inbox set to round-robin, a conversation a customer opens goes to the eligible member whose
turn it is: never routed to first, then the one routed to longest ago. Eligible means active, a
member of the inbox, online (presence, in the cache) and holding fewer unresolved conversations of
the inbox than its capacity. With nobody eligible the conversation stays unassigned, in
"Unassigned", for agents to pick up.

The choice is made with the inbox's row locked until commit: conversations of different customers
arriving together (separate transactions, separate processes) take their turns one after the
other, so no turn is given twice and the capacity is never overrun by routing.

Optionally (``Inbox.reassign_when_offline``) a periodic sweep hands the open conversations of an
agent who has been offline for a while to an online member, by the same rule.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from conversations import selectors
from conversations.actions import ActionRefused, conversation_assign
from conversations.models import Conversation
from inbox.models import Inbox, InboxMembership
from inbox.realtime import presence

logger = logging.getLogger(__name__)

ROUND_ROBIN = "round_robin"  # what the audit log says chose the agent
SWEEP_BATCH = 200  # conversations moved per inbox and sweep; the rest go at the next sweep


def conversation_route(*, conversation: Conversation):
    """Assign a conversation a customer just opened to the next eligible member of its round-robin
    inbox, who is told; return that user, or None (a manual inbox, a conversation already taken or
    resolved, nobody eligible)."""
    if conversation.assignee_id or conversation.status == Conversation.Status.RESOLVED:
        return None
    # Checked on the inbox the caller holds first: manual inboxes, the usual case, cost no query.
    if conversation.inbox.routing != Inbox.Routing.ROUND_ROBIN:
        return None
    with transaction.atomic(savepoint=False):
        inbox = _inbox_locked(conversation.inbox_id)
        if inbox.routing != Inbox.Routing.ROUND_ROBIN:
            return None
        member = _turn_take(inbox)
        # The new message's event, rendered after commit, already shows the conversation assigned.
        if member is None or not _give(conversation, member, announce=False):
            return None
        return member.user


def conversations_reroute_offline(*, now: datetime | None = None) -> list[int]:
    """Hand the open conversations of agents offline for longer than ROUTING_OFFLINE_GRACE_SECONDS
    to online members, in the round-robin inboxes that ask for it; return the ids moved.

    With nobody eligible (everyone offline or full) a conversation stays with its agent: it is not
    orphaned, the agent finds it when back, and the next sweep tries again.
    """
    now = now or timezone.now()
    moved: list[int] = []
    for inbox in selectors.inboxes_rerouting_offline():
        holders = selectors.open_assignee_ids(inbox_id=inbox.pk)
        if not holders:
            continue
        members = selectors.inbox_member_ids([inbox.pk])
        online = _online(holders | members)
        gone = _offline_for_a_while(offline=holders - online, online=online, now=now)
        if not gone or not online & members:
            continue
        for conversation in selectors.open_conversations_held_by(inbox_id=inbox.pk, user_ids=gone, limit=SWEEP_BATCH):
            outcome = _reroute(conversation, online=online)
            if outcome is None:
                break  # nobody has room: neither will anyone for the next one
            if outcome:
                moved.append(conversation.pk)
    return moved


def _reroute(conversation: Conversation, *, online: set[int]) -> bool | None:
    """Move one conversation off its offline agent: True if moved, False if it changed meanwhile,
    None if nobody is eligible."""
    with transaction.atomic():
        # The inbox first, then the conversation, never waiting for the latter: an ingest that holds
        # this conversation may be waiting for the inbox, and neither would give way.
        inbox = _inbox_locked(conversation.inbox_id)
        if not (inbox.routing == Inbox.Routing.ROUND_ROBIN and inbox.reassign_when_offline and inbox.is_active):
            return None
        # An agent may have taken, resolved or reassigned it since the list was read: leave it then.
        unchanged = Conversation.objects.select_for_update(skip_locked=True).filter(
            pk=conversation.pk, status=Conversation.Status.OPEN, assignee_id=conversation.assignee_id
        )
        if not list(unchanged.values_list("pk", flat=True)):
            return False
        member = _turn_take(inbox, online=online)
        if member is None:
            return None
        return _give(conversation, member, why="the assignee went offline")


def _inbox_locked(inbox_id: int) -> Inbox:
    # Only what routing reads: the rest of the row holds encrypted fields, costly to decrypt.
    return (
        Inbox.objects.select_for_update()
        .only("pk", "routing", "routing_capacity", "reassign_when_offline", "is_active")
        .get(pk=inbox_id)
    )


def _turn_take(inbox: Inbox, *, online: set[int] | None = None) -> InboxMembership | None:
    """The eligible member whose turn it is, their turn moved to the back; None if nobody is
    eligible. The caller holds the inbox's lock."""
    members = selectors.routing_members(inbox_id=inbox.pk)
    if online is None:
        online = _online({m.user_id for m in members})
    eligible = [m for m in members if m.user_id in online]
    if eligible and inbox.routing_capacity is not None:
        held = selectors.unresolved_held(inbox_id=inbox.pk, user_ids=[m.user_id for m in eligible])
        eligible = [m for m in eligible if held.get(m.user_id, 0) < inbox.routing_capacity]
    if not eligible:
        return None
    chosen = eligible[0]
    # Turns follow the order routing happened in, which the lock fixes, rather than the clocks of
    # the servers that did it: those may differ by a few milliseconds, enough to give one agent
    # two turns in a row.
    latest = max((m.last_routed_at for m in members if m.last_routed_at), default=None)
    now = timezone.now()
    chosen.last_routed_at = max(now, latest + timedelta(microseconds=1)) if latest else now
    InboxMembership.objects.filter(pk=chosen.pk).update(last_routed_at=chosen.last_routed_at)
    return chosen


def _give(conversation: Conversation, member: InboxMembership, *, why: str = "", announce: bool = True) -> bool:
    """Assign through the agents' own path: the list rows update, the agent is told, it is audited."""
    try:
        conversation_assign(
            conversation=conversation,
            assignee_id=member.user_id,
            actor=None,
            by=ROUND_ROBIN,
            why=why,
            announce=announce,
        )
    except ActionRefused:
        # Removed from the inbox (or deactivated) between our read and the assignment.
        return False
    # The caller may still render this conversation (the new message's event): no query for it then.
    conversation.assignee = member.user
    return True


def _online(user_ids: set[int]) -> set[int]:
    try:
        return presence.online_user_ids(user_ids)
    except Exception:  # noqa: BLE001 - any cache failure
        # Presence lives in the cache. If it cannot be read (a Redis outage), route to nobody rather
        # than fail the customer's message: the conversation waits in "Unassigned".
        logger.warning("presence could not be read; routing to nobody", exc_info=True)
        return set()


def _offline_key(user_id: int) -> str:
    return f"routing:offline-since:{user_id}"


def _offline_for_a_while(*, offline: set[int], online: set[int], now: datetime) -> set[int]:
    """Those of the offline agents that sweeps have seen offline for the grace period at least.

    Presence forgets an agent the moment their last tab closes, so a page reload is a second or two
    offline; without a grace period a sweep falling in it would take all their conversations away.
    When a sweep first sees an agent offline it notes the time; seen online again, the note goes.
    """
    if online:
        cache.delete_many([_offline_key(user_id) for user_id in online])
    if not offline:
        return set()
    grace = timedelta(seconds=settings.ROUTING_OFFLINE_GRACE_SECONDS)
    keys = {user_id: _offline_key(user_id) for user_id in offline}
    noted = cache.get_many(list(keys.values()))
    first_seen = {key: now for key in keys.values() if key not in noted}
    if first_seen:
        # Kept past the grace period and the next sweeps, or the clock would start again.
        keep = settings.ROUTING_OFFLINE_GRACE_SECONDS + 3 * settings.ROUTING_SWEEP_SECONDS
        cache.set_many(first_seen, timeout=keep)
    return {user_id for user_id, key in keys.items() if noted.get(key, now) <= now - grace}
