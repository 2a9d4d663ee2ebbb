"""Round-robin routing: who gets a conversation a customer opens, and who takes over when an agent
goes offline. Agents come online through presence's own join (what their workspace socket does) or
through a real socket; conversations arrive through the real ingest path."""

import asyncio
import functools
from collections import Counter
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from conversations.actions import conversation_assign, conversation_set_status
from conversations.ingest import message_ingest
from conversations.models import Conversation, Notification
from conversations.routing import conversations_reroute_offline
from conversations.selectors import view_counts
from inbox.models import AuditEntry, Inbox
from inbox.realtime import presence
from tests.factories import InboxFactory, MembershipFactory, UserFactory
from tests.helpers import inbound, run_concurrently
from tests.sockets import agent_socket, session_cookie

ROUND_ROBIN = Inbox.Routing.ROUND_ROBIN


def _agent(inbox, name, *, online=True):
    user = MembershipFactory(inbox=inbox, user=UserFactory(username=name.lower(), first_name=name)).user
    if online:
        go_online(user)
    return user


def go_online(user):
    presence.presence_join(user_id=user.pk, channel=f"test-socket.{user.pk}")


def go_offline(user):
    presence.presence_leave(user_id=user.pk, channel=f"test-socket.{user.pk}")


def customer_writes(inbox, i, text="Hello, I need help", **extra):
    """Customer number ``i`` writes on the inbox's website chat; return their conversation."""
    message = message_ingest(inbox=inbox, inbound=inbound(text, address=f"visitor-{i}", name=f"Customer {i}", **extra))
    return Conversation.objects.get(pk=message.conversation_id)


def mine(*users) -> list[int]:
    """What each agent's "Mine" view counts (open conversations assigned to them)."""
    return [view_counts(user=user).mine for user in users]


@pytest.fixture
def inbox(db):
    return InboxFactory(kind="webchat", name="Website", routing=ROUND_ROBIN)


@pytest.fixture
def team(inbox):
    """Four agents of the inbox; Dan is offline."""
    return [_agent(inbox, name, online=name != "Dan") for name in ("Ann", "Ben", "Cat", "Dan")]


@pytest.mark.django_db
def test_round_robin_spreads_100_new_conversations_evenly_among_online_agents_within_capacity(inbox, team):
    inbox.routing_capacity = 40
    inbox.save()
    ann, ben, cat, dan = team

    for i in range(100):
        customer_writes(inbox, i)

    assert sorted(mine(ann, ben, cat)) == [33, 33, 34]
    assert mine(dan) == [0]
    assert view_counts(user=ann).unassigned == 0
    # Each was told, once per conversation they were given.
    for agent, count in zip((ann, ben, cat), mine(ann, ben, cat), strict=True):
        assert Notification.objects.filter(user=agent, kind=Notification.Kind.ASSIGNED).count() == count
    assert not Notification.objects.filter(user=dan).exists()


@pytest.mark.django_db
def test_capacity_caps_each_agent_and_the_rest_wait_unassigned_until_a_slot_frees(inbox, team):
    inbox.routing_capacity = 30
    inbox.save()
    ann, ben, cat, dan = team

    conversations = [customer_writes(inbox, i) for i in range(100)]

    assert mine(ann, ben, cat, dan) == [30, 30, 30, 0]
    assert view_counts(user=ann).unassigned == 10

    # Pending (or snoozed) still counts against the capacity: only resolving frees a slot.
    bens = [c for c in conversations if c.assignee_id == ben.pk]
    conversation_set_status(conversation=bens[0], status=Conversation.Status.PENDING, actor=ben)
    assert customer_writes(inbox, 100).assignee_id is None
    anns = [c for c in conversations if c.assignee_id == ann.pk]
    conversation_set_status(conversation=anns[0], status=Conversation.Status.RESOLVED, actor=ann)
    assert customer_writes(inbox, 101).assignee == ann
    assert customer_writes(inbox, 102).assignee_id is None
    assert view_counts(user=ann).unassigned == 12


@pytest.mark.django_db
def test_a_manual_inbox_assigns_nobody(inbox, team):
    inbox.routing = Inbox.Routing.MANUAL
    inbox.save()

    assert [customer_writes(inbox, i).assignee_id for i in range(5)] == [None] * 5
    assert view_counts(user=team[0]).unassigned == 5
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_deactivated_agent_or_an_outsider_is_never_chosen_even_online(inbox):
    ann = _agent(inbox, "Ann")
    gone = _agent(inbox, "Gus")
    gone.is_active = False
    gone.save()
    outsider = UserFactory(username="olga")  # online, but in another inbox only
    MembershipFactory(user=outsider)
    go_online(outsider)

    assert {customer_writes(inbox, i).assignee_id for i in range(6)} == {ann.pk}

    go_offline(ann)
    assert customer_writes(inbox, 6).assignee_id is None  # the others being online changes nothing


@pytest.mark.django_db
def test_a_new_agent_takes_the_next_turn_then_everyone_in_order(inbox):
    ann, ben = _agent(inbox, "Ann"), _agent(inbox, "Ben")
    assert [customer_writes(inbox, i).assignee for i in range(4)] == [ann, ben, ann, ben]

    cat = _agent(inbox, "Cat")  # starts a shift: never routed to, so first
    assert [customer_writes(inbox, i).assignee for i in range(4, 8)] == [cat, ann, ben, cat]


@pytest.mark.django_db
def test_a_follow_up_message_does_not_reroute(inbox):
    ann = _agent(inbox, "Ann", online=False)
    waiting = customer_writes(inbox, 1, "Hello?")
    assert waiting.assignee_id is None  # nobody was online

    ben = _agent(inbox, "Ben")
    go_online(ann)
    assert customer_writes(inbox, 1, "Still there?").pk == waiting.pk
    assert Conversation.objects.get(pk=waiting.pk).assignee_id is None  # it stays in "Unassigned"

    taken = customer_writes(inbox, 2)
    assert taken.assignee == ann  # never routed to: first
    for _ in range(3):
        assert customer_writes(inbox, 2, "And another thing").assignee == ann
    assert customer_writes(inbox, 3).assignee == ben  # the follow-ups used no turn
    assert Notification.objects.filter(kind=Notification.Kind.ASSIGNED).count() == 2


@pytest.mark.django_db
def test_mail_written_by_a_machine_is_not_routed(inbox):
    _agent(inbox, "Ann")
    bounce = customer_writes(inbox, 1, "Delivery failed", automatic="bounce")
    assert bounce.assignee_id is None and bounce.status == Conversation.Status.RESOLVED
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_the_routed_agent_is_notified_and_the_log_says_round_robin_did_it(inbox):
    ann = _agent(inbox, "Ann")

    conversation = customer_writes(inbox, 1)

    notification = Notification.objects.get(user=ann)
    assert notification.kind == Notification.Kind.ASSIGNED
    assert notification.text == "Round-robin assigned you Customer 1"
    assert notification.conversation_id == conversation.pk
    entry = AuditEntry.objects.get(action="conversation.assign")
    assert entry.actor is None and entry.actor_name == "system"
    assert entry.inbox_id == inbox.pk and entry.target_id == conversation.pk
    assert entry.details["by"] == "round_robin" and entry.details["to"] == ann.pk
    assert "Ann" in entry.summary and "round-robin" in entry.summary


# ---- when an agent goes offline ---------------------------------------------------------------------


@pytest.fixture
def sweeping(inbox, settings):
    inbox.reassign_when_offline = True
    inbox.save()
    settings.ROUTING_OFFLINE_GRACE_SECONDS = 0
    return inbox


@pytest.mark.django_db
def test_the_sweep_hands_an_offline_agents_open_conversations_to_online_ones(sweeping):
    ann = _agent(sweeping, "Ann")
    conversations = [customer_writes(sweeping, i) for i in range(4)]
    waiting = conversations[3]
    conversation_set_status(conversation=conversations[3], status=Conversation.Status.PENDING, actor=ann)
    ben, cat = _agent(sweeping, "Ben"), _agent(sweeping, "Cat")

    go_offline(ann)
    moved = conversations_reroute_offline()

    assert sorted(moved) == sorted(c.pk for c in conversations[:3])
    assert mine(ann, ben, cat) == [0, 2, 1]
    # Pending waits on the customer: it stays, and moves once the customer writes and it is open.
    assert Conversation.objects.get(pk=waiting.pk).assignee == ann
    assert Notification.objects.get(user=cat).text == "Round-robin assigned you Customer 1"
    entry = AuditEntry.objects.filter(action="conversation.assign", target_id=conversations[0].pk).first()
    assert entry.details["by"] == "round_robin" and entry.details["from"] == ann.pk
    assert "went offline" in entry.summary

    customer_writes(sweeping, 3, "Any news?")
    assert conversations_reroute_offline() == [waiting.pk]
    assert mine(ann, ben, cat) == [0, 2, 2]


@pytest.mark.django_db
def test_with_nobody_else_online_the_conversations_stay_with_their_agent(sweeping):
    ann = _agent(sweeping, "Ann")
    ben = _agent(sweeping, "Ben", online=False)
    conversation = customer_writes(sweeping, 1)
    go_offline(ann)

    assert conversations_reroute_offline() == []
    assert Conversation.objects.get(pk=conversation.pk).assignee == ann

    go_online(ben)  # the next sweep tries again
    assert conversations_reroute_offline() == [conversation.pk]
    assert Conversation.objects.get(pk=conversation.pk).assignee == ben


@pytest.mark.django_db
def test_the_sweep_respects_capacity(sweeping):
    sweeping.routing_capacity = 2
    sweeping.save()
    ann, ben = _agent(sweeping, "Ann"), _agent(sweeping, "Ben")
    conversations = [customer_writes(sweeping, i) for i in range(4)]
    go_offline(ann)

    assert conversations_reroute_offline() == []  # Ben is full: Ann's stay with her
    bens = [c for c in conversations if c.assignee == ben]
    conversation_set_status(conversation=bens[0], status=Conversation.Status.RESOLVED, actor=ben)
    assert len(conversations_reroute_offline()) == 1
    assert mine(ann, ben) == [1, 2]


@pytest.mark.django_db
def test_a_page_reload_is_not_going_offline(sweeping, settings):
    settings.ROUTING_OFFLINE_GRACE_SECONDS = 120
    ann, ben = _agent(sweeping, "Ann"), _agent(sweeping, "Ben")
    conversation = customer_writes(sweeping, 1)
    assert conversation.assignee == ann
    now = timezone.now()

    go_offline(ann)  # the page unloads…
    assert conversations_reroute_offline(now=now) == []  # …a sweep falls just then…
    go_online(ann)  # …and the new page's socket joins
    assert conversations_reroute_offline(now=now + timedelta(seconds=60)) == []
    go_offline(ann)  # gone for real this time
    assert conversations_reroute_offline(now=now + timedelta(seconds=200)) == []  # the grace starts again
    assert conversations_reroute_offline(now=now + timedelta(seconds=330)) == [conversation.pk]
    assert Conversation.objects.get(pk=conversation.pk).assignee == ben


@pytest.mark.django_db
def test_inboxes_that_did_not_ask_keep_an_offline_agents_conversations(inbox, settings):
    settings.ROUTING_OFFLINE_GRACE_SECONDS = 0
    ann = _agent(inbox, "Ann")
    conversation = customer_writes(inbox, 1)
    _agent(inbox, "Ben")
    go_offline(ann)

    assert conversations_reroute_offline() == []  # round-robin, but reassign_when_offline is off
    assert Conversation.objects.get(pk=conversation.pk).assignee == ann


@pytest.mark.django_db
def test_a_conversation_handed_by_hand_to_an_offline_agent_moves_on_too(sweeping):
    ann = _agent(sweeping, "Ann")
    conversation = customer_writes(sweeping, 1)
    ben = _agent(sweeping, "Ben")
    cat = _agent(sweeping, "Cat", online=False)
    conversation_assign(conversation=conversation, assignee_id=cat.pk, actor=ben)  # to an offline colleague
    go_offline(ann)

    # Whoever chose the agent, an offline agent's open conversation is handed on.
    assert conversations_reroute_offline() == [conversation.pk]
    assert Conversation.objects.get(pk=conversation.pk).assignee == ben


# ---- through real sockets ----------------------------------------------------------------------------


async def _frame_with(ws, text: str, timeout: float = 5.0) -> str:
    """The first frame the agent's page receives that shows ``text``."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await ws.receive_from(timeout=timeout)
            if text in frame:
                return frame


@pytest.mark.django_db(transaction=True)
async def test_an_agent_online_in_the_workspace_is_told_and_a_colleague_takes_over_when_they_leave(settings):
    settings.ROUTING_OFFLINE_GRACE_SECONDS = 0
    inbox = await sync_to_async(InboxFactory)(kind="webchat", routing=ROUND_ROBIN, reassign_when_offline=True)
    ann = await sync_to_async(_agent)(inbox, "Ann", online=False)
    ben = await sync_to_async(_agent)(inbox, "Ben", online=False)
    ann_ws, ok = await agent_socket(cookie=await sync_to_async(session_cookie)(ann))
    assert ok

    conversation = await sync_to_async(customer_writes)(inbox, 1)

    assert conversation.assignee_id == ann.pk
    # The new message's row already shows Ann as the assignee: no second event is needed for it.
    row = await _frame_with(ann_ws, f'id="conv-row-{conversation.pk}"')
    assert f'data-assignee="{ann.pk}"' in row and '<span class="assignee">Ann' in row
    assert "Round-robin assigned you Customer 1" in await _frame_with(ann_ws, "assigned you")

    ben_ws, ok = await agent_socket(cookie=await sync_to_async(session_cookie)(ben))
    assert ok
    await ann_ws.disconnect()  # Ann closes her workspace
    assert await sync_to_async(conversations_reroute_offline)() == [conversation.pk]
    assert "Round-robin assigned you Customer 1" in await _frame_with(ben_ws, "assigned you")
    await ben_ws.disconnect()


# ---- at the same time ----------------------------------------------------------------------------------


def _concurrent_arrivals(inbox, *, threads: int, each: int) -> None:
    def arrive(thread: int):
        for i in range(each):
            customer_writes(inbox, thread * 1000 + i)

    run_concurrently(*[functools.partial(arrive, t) for t in range(threads)])


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="POSTGRESQL-ONLY TEST SKIPPED: SQLite runs one writer at a time, so the inbox lock that keeps "
    "concurrent turns apart is not exercised; `make test` runs it on PostgreSQL",
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_conversations_arriving_at_once_are_still_spread_evenly(inbox, team):
    ann, ben, cat, dan = team

    _concurrent_arrivals(inbox, threads=8, each=5)

    counts = Counter(Conversation.objects.values_list("assignee_id", flat=True))
    assert sum(counts.values()) == 40 and None not in counts and dan.pk not in counts
    spread = [counts[ann.pk], counts[ben.pk], counts[cat.pk]]
    assert max(spread) - min(spread) <= 1, spread


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_conversations_arriving_at_once_never_overrun_the_capacity(inbox, team):
    inbox.routing_capacity = 10
    inbox.save()
    ann, ben, cat, _ = team

    _concurrent_arrivals(inbox, threads=8, each=5)

    assert mine(ann, ben, cat) == [10, 10, 10]
    assert Conversation.objects.filter(assignee__isnull=True).count() == 10
