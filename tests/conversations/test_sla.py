"""Service levels on a controlled clock: business hours, pauses, resolving, breaches told once."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conversations import sla
from conversations.actions import conversation_set_labels, conversation_set_priority, conversation_set_status
from conversations.business_hours import parse_weekly_hours
from conversations.ingest import message_ingest
from conversations.models import Conversation, ConversationFact, Label, Notification, SlaClock, SlaEvent, SlaPolicy
from conversations.replies import message_reply
from inbox.models import Team
from tests.factories import InboxFactory, MembershipFactory
from tests.helpers import inbound

KL = ZoneInfo("Asia/Kuala_Lumpur")  # UTC+8
HOURS = parse_weekly_hours(
    "Mon 09:00-12:00 13:00-17:30\nTue 09:00-12:00 13:00-17:30\nWed 09:00-12:00 13:00-17:30\n"
    "Thu 09:00-12:00 13:00-17:30\nFri 09:00-12:00 13:00-17:30 22:00-02:00"
)
HOUR = 3600


def kl(day, hour, minute=0):
    """A moment in Kuala Lumpur in December 2026 (the 7th is a Monday), as UTC."""
    return datetime(2026, 12, day, hour, minute, tzinfo=KL).astimezone(UTC)


@pytest.fixture
def inbox(db):
    return InboxFactory(kind="fake", hours_enabled=True, time_zone="Asia/Kuala_Lumpur", weekly_hours=HOURS)


@pytest.fixture
def agent_of(inbox):
    return MembershipFactory(inbox=inbox).user


def policy(**fields):
    defaults = {"name": "Standard", "first_response_seconds": HOUR, "next_response_seconds": HOUR}
    return SlaPolicy.objects.create(**{**defaults, **fields})


def customer_writes(inbox, at, text="Hello?"):
    with time_machine.travel(at, tick=False):
        return message_ingest(inbox=inbox, inbound=inbound(text, kind="email", address="ada@example.com"))


def agent_replies(conversation, agent, at, text="Here to help"):
    with time_machine.travel(at, tick=False):
        return message_reply(conversation=_fresh(conversation), author=agent, text=text)


def set_status(conversation, status, at, actor=None, **extra):
    with time_machine.travel(at, tick=False):
        conversation_set_status(conversation=_fresh(conversation), status=status, actor=actor, **extra)


def _fresh(conversation):
    return Conversation.objects.select_related("inbox", "customer", "assignee", "identity").get(pk=conversation.pk)


def sweep(at):
    with time_machine.travel(at, tick=False):
        return sla.sla_breaches_settle()


def clock(conversation, target=SlaClock.Target.FIRST_RESPONSE) -> SlaClock:
    return SlaClock.objects.filter(conversation=conversation, target=target).latest("id")


def test_time_to_breach_counts_only_business_hours_across_lunch_and_into_a_night_shift(inbox):
    policy(business_hours=True)
    monday = customer_writes(inbox, kl(7, 11, 30)).conversation
    # 30 minutes before lunch, the hour's break, 30 minutes after it.
    assert _fresh(monday).sla_due_at == kl(7, 13, 30)
    assert _fresh(monday).sla_target == "first_response"
    with time_machine.travel(kl(11, 17), tick=False):
        friday = message_ingest(inbox=inbox, inbound=inbound("Late", kind="email", address="cy@example.com"))
    # Half an hour before closing, the rest in Friday's night shift (22:00 to 02:00).
    assert _fresh(friday.conversation).sla_due_at == kl(11, 22, 30)


def test_calendar_time_ignores_the_hours(inbox):
    policy(business_hours=False)
    conversation = customer_writes(inbox, kl(12, 10)).conversation  # Saturday: closed
    assert _fresh(conversation).sla_due_at == kl(12, 11)


def test_holidays_stop_the_business_clock(inbox):
    inbox.holiday_country, inbox.custom_holidays = "MY", ["2026-12-24"]
    inbox.save()
    policy(business_hours=True)
    conversation = customer_writes(inbox, kl(23, 17)).conversation  # the 24th ours, the 25th Christmas
    assert _fresh(conversation).sla_due_at == kl(28, 9, 30)


def test_the_clock_pauses_while_pending_and_resumes_where_it_stopped(inbox, agent_of):
    policy(business_hours=True)
    conversation = customer_writes(inbox, kl(7, 9)).conversation
    set_status(conversation, "pending", kl(7, 9, 10), actor=agent_of)  # 10 minutes used
    paused = _fresh(conversation)
    assert paused.sla_due_at is None and paused.sla_paused_left == 50 * 60
    # The customer writes on Tuesday: open again, 50 minutes left from then.
    customer_writes(inbox, kl(8, 10), "Any news?")
    assert _fresh(conversation).sla_due_at == kl(8, 10, 50)
    assert clock(conversation).used_seconds == pytest.approx(600)
    kinds = list(SlaEvent.objects.filter(conversation=conversation).values_list("kind", flat=True))
    assert kinds == ["started", "paused", "resumed"]


def test_snoozed_pauses_too_and_waking_resumes(inbox, agent_of):
    from conversations.actions import conversations_wake_snoozed

    policy(business_hours=False)
    conversation = customer_writes(inbox, kl(7, 9)).conversation
    set_status(conversation, "snoozed", kl(7, 9, 20), actor=agent_of, snooze_until=kl(7, 15))
    assert sweep(kl(7, 12)) == []  # paused: nothing breaches while snoozed
    with time_machine.travel(kl(7, 15), tick=False):
        conversations_wake_snoozed()
    assert _fresh(conversation).sla_due_at == kl(7, 15, 40)


def test_resolving_stops_every_clock_for_good(inbox, agent_of):
    policy(business_hours=False, resolution_seconds=8 * HOUR)
    conversation = customer_writes(inbox, kl(7, 9)).conversation
    agent_replies(conversation, agent_of, kl(7, 9, 30))
    customer_writes(inbox, kl(7, 10), "One more thing")  # a next response is now due at 11:00
    assert _fresh(conversation).sla_target == "next_response"
    set_status(conversation, "resolved", kl(7, 10, 15), actor=agent_of)
    resolved = _fresh(conversation)
    assert resolved.sla_due_at is None and resolved.sla_paused_left is None
    # Long past every deadline, nothing runs and nothing breaches (Chatwoot's #10178).
    assert sweep(kl(9, 10)) == []
    outcomes = dict(SlaClock.objects.filter(conversation=conversation).values_list("target", "outcome"))
    assert outcomes == {"first_response": "met", "next_response": "cancelled", "resolution": "met"}
    assert not Notification.objects.filter(kind=Notification.Kind.SLA_BREACHED).exists()


def test_a_breach_is_told_to_the_assignee_live_and_exactly_once(inbox, agent_of):
    policy(business_hours=True)
    conversation = customer_writes(inbox, kl(7, 11, 30)).conversation
    Conversation.objects.filter(pk=conversation.pk).update(assignee=agent_of)
    assert sweep(kl(7, 13, 29)) == []
    assert sweep(kl(7, 13, 31)) == [conversation.pk]
    assert sweep(kl(7, 13, 45)) == []  # once
    told = Notification.objects.get(kind=Notification.Kind.SLA_BREACHED)
    assert told.user == agent_of and "First response" in told.text
    first = clock(conversation)
    assert first.breached_at == kl(7, 13, 30) and first.running_since is not None  # still waiting
    # The late reply stops it, breached; the reports count the breach.
    agent_replies(conversation, agent_of, kl(7, 14))
    assert clock(conversation).outcome == "breached"
    assert ConversationFact.objects.get(pk=conversation.pk).sla_first_response == "breached"


def test_an_unassigned_breach_goes_to_the_team_or_else_the_inboxs_agents(inbox, agent_of):
    policy(business_hours=False)
    teammate, other = MembershipFactory(inbox=inbox).user, MembershipFactory(inbox=inbox).user
    team = Team.objects.create(name="Billing")
    team.members.add(teammate)
    with_team = customer_writes(inbox, kl(7, 9)).conversation
    Conversation.objects.filter(pk=with_team.pk).update(team=team)
    nobodys = message_ingest(inbox=inbox, inbound=inbound("Hi", kind="email", address="eve@example.com"))
    SlaClock.objects.filter(conversation=nobodys.conversation).update(due_at=kl(7, 10))
    sweep(kl(7, 10, 5))
    told = set(Notification.objects.filter(kind="sla_breached").values_list("conversation_id", "user_id"))
    assert (with_team.pk, teammate.pk) in told and (with_team.pk, other.pk) not in told
    assert {(nobodys.conversation_id, u.pk) for u in (agent_of, teammate, other)} <= told


async def test_the_breach_reaches_the_assignees_open_workspace():
    from asgiref.sync import sync_to_async

    from tests.sockets import agent_socket, receive_until, session_cookie

    def prepare():
        inbox = InboxFactory(kind="fake")
        agent = MembershipFactory(inbox=inbox).user
        policy(business_hours=False)
        conversation = message_ingest(inbox=inbox, inbound=inbound("Hi", kind="email", address="ada@example.com"))
        Conversation.objects.filter(pk=conversation.conversation_id).update(assignee=agent)
        # Its deadline is a minute ago (the clock is not travelled here: the socket's loop runs on it).
        SlaClock.objects.filter(conversation_id=conversation.conversation_id).update(
            due_at=datetime.now(UTC) - timedelta(minutes=1)
        )
        return agent, conversation.conversation_id

    agent, conversation_id = await sync_to_async(prepare)()
    ws, ok = await agent_socket(cookie=await sync_to_async(session_cookie)(agent))
    assert ok
    assert await sync_to_async(sla.sla_breaches_settle)() == [conversation_id]
    frame = await receive_until(ws, "kind-sla_breached")
    assert "First response target breached" in frame
    await ws.disconnect()


test_the_breach_reaches_the_assignees_open_workspace = pytest.mark.django_db(transaction=True)(
    test_the_breach_reaches_the_assignees_open_workspace
)


def test_the_most_specific_policy_wins_and_a_new_label_retargets_the_clock(inbox, agent_of):
    vip = Label.objects.create(name="VIP")
    policy(name="Everyone", business_hours=False, first_response_seconds=4 * HOUR)
    policy(name="This inbox", inbox=inbox, business_hours=False, first_response_seconds=2 * HOUR)
    policy(name="VIP here", inbox=inbox, label=vip, business_hours=False, first_response_seconds=HOUR // 2)
    policy(name="Urgent", priority=Conversation.Priority.URGENT, business_hours=False, first_response_seconds=600)
    conversation = customer_writes(inbox, kl(7, 9)).conversation
    assert _fresh(conversation).sla_policy.name == "This inbox"
    assert _fresh(conversation).sla_due_at == kl(7, 11)
    with time_machine.travel(kl(7, 9, 10), tick=False):
        conversation_set_labels(conversation=_fresh(conversation), label_ids=[vip.pk], actor=agent_of)
    assert _fresh(conversation).sla_policy.name == "VIP here"
    # 10 minutes used of 30 for VIPs: due at 9:30.
    assert _fresh(conversation).sla_due_at == kl(7, 9, 30)
    with time_machine.travel(kl(7, 9, 15), tick=False):
        conversation_set_priority(
            conversation=_fresh(conversation), priority=Conversation.Priority.URGENT, actor=agent_of
        )
    # Urgent alone has one condition, VIP here two: VIP here still wins.
    assert _fresh(conversation).sla_policy.name == "VIP here"


def test_a_policy_that_starts_to_apply_counts_from_when_the_customer_began_waiting(inbox, agent_of):
    vip = Label.objects.create(name="VIP")
    conversation = customer_writes(inbox, kl(7, 9)).conversation
    assert _fresh(conversation).sla_due_at is None  # no policy yet
    policy(name="VIP", label=vip, business_hours=False)
    with time_machine.travel(kl(7, 9, 30), tick=False):
        conversation_set_labels(conversation=_fresh(conversation), label_ids=[vip.pk], actor=agent_of)
    assert _fresh(conversation).sla_due_at == kl(7, 10)


def test_an_agent_writing_first_starts_no_clock_until_the_customer_answers(inbox, agent_of):
    from tests.factories import ConversationFactory

    policy(business_hours=False)
    conversation = ConversationFactory(inbox=inbox, identity__address="ada@example.com", assignee=agent_of)
    agent_replies(conversation, agent_of, kl(7, 9), "Your order shipped")
    assert not SlaClock.objects.filter(conversation=conversation).exists()
    customer_writes(inbox, kl(7, 10), "Thanks, when does it arrive?")
    assert _fresh(conversation).sla_target == "first_response" and _fresh(conversation).sla_due_at == kl(7, 11)


def test_a_reply_answers_the_customer_who_wrote_while_the_agent_was_typing(inbox, agent_of):
    policy(business_hours=False)
    conversation = customer_writes(inbox, kl(7, 9)).conversation
    agent_replies(conversation, agent_of, kl(7, 9, 10))
    stale = _fresh(conversation)  # the agent's page, loaded before the customer's next message
    customer_writes(inbox, kl(7, 9, 20), "And the invoice?")
    with time_machine.travel(kl(7, 9, 30), tick=False):
        message_reply(conversation=stale, author=agent_of, text="Attached.")
    assert clock(conversation, SlaClock.Target.NEXT_RESPONSE).outcome == "met"
    assert _fresh(conversation).sla_due_at is None
