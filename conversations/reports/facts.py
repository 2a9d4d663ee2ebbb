"""The reports' pre-aggregates, kept current by the services that change conversations.

Each change writes the few rows it affects, in the transaction that makes it: a counted message its
conversation's counters and its hour's volume; a reply its response time; a resolution or reopening
its conversation's resolution times; a clock's end its service-level outcome; a survey its rating.
Reports read these rows and never messages. ``rebuild`` derives the same rows from history, and a
test holds the two equal (docs/metrics.md has the definitions both follow).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce

from conversations.business_hours import Schedule
from conversations.models import Conversation, ConversationFact, CsatSurvey, Message, ResponseFact, SlaClock
from conversations.reports.days import days_dirty

Target = SlaClock.Target
SETTLED = (SlaClock.Outcome.MET, SlaClock.Outcome.BREACHED)


# ---- what counts (docs/metrics.md, "Messages") --------------------------------------------------------


def counts_as_in(message: Message) -> bool:
    """A message a customer wrote: not a machine's mail, not a survey answer."""
    return (
        message.direction == Message.Direction.INBOUND
        and message.sender_type == Message.Sender.CUSTOMER
        and not message.automatic
        and message.rating is None
    )


def counts_as_reply(message: Message) -> bool:
    """A message a person on the team wrote to the customer: not a note, not an automatic message (an
    away reply, a survey), not a forward to someone else."""
    return (
        message.direction == Message.Direction.OUTBOUND
        and message.sender_type == Message.Sender.AGENT
        and not (message.recipients or {}).get("forward")
    )


def whole_seconds(start: datetime, end: datetime) -> int:
    return max(int((end - start).total_seconds()), 0)


def business_seconds(schedule: Schedule | None, start: datetime, end: datetime) -> int:
    """Open time between two moments, by the inbox's business hours (all of it, for an inbox without)."""
    if schedule is None:
        return whole_seconds(start, end)
    return max(int(schedule.seconds_open(start, end)), 0)


# ---- the conversation's row ---------------------------------------------------------------------------


def fact_for(conversation: Conversation) -> ConversationFact:
    """The conversation's row, made with what the conversation already says when its first counted
    message comes: a conversation only a machine or a note ever wrote in is in no report."""
    fact = ConversationFact.objects.filter(pk=conversation.pk).first()
    return fact or _create(conversation)


def _create(conversation: Conversation) -> ConversationFact:
    first = (
        Conversation.objects.filter(customer_id=conversation.customer_id)
        .order_by("created_at", "id")
        .values_list("pk", "inbox__kind")
        .first()
    )
    channel = conversation.inbox.kind
    fact, _ = ConversationFact.objects.get_or_create(
        conversation_id=conversation.pk,
        defaults={
            "inbox_id": conversation.inbox_id,
            "channel": channel,
            "team_id": conversation.team_id,
            "assignee_id": conversation.assignee_id,
            "customer_first_channel": first[1] if first else channel,
            "customer_first": first is None or first[0] == conversation.pk,
            "opened_at": conversation.created_at,
        },
    )
    # Opened when the conversation began, which may be a day before its first counted message.
    days_dirty(conversation.inbox_id, conversation.created_at)
    return fact


def _update(conversation: Conversation, *, create: bool = False, **changes) -> None:
    """Change the conversation's row; only a counted message (``create``) makes one that is missing."""
    if not ConversationFact.objects.filter(pk=conversation.pk).update(**changes) and create:
        _create(conversation)
        ConversationFact.objects.filter(pk=conversation.pk).update(**changes)


def first_customer_at(conversation: Conversation) -> datetime | None:
    return ConversationFact.objects.filter(pk=conversation.pk).values_list("first_customer_at", flat=True).first()


def first_response_given(conversation: Conversation) -> bool:
    return ConversationFact.objects.filter(pk=conversation.pk, first_response_at__isnull=False).exists()


def _schedule(conversation: Conversation) -> Schedule | None:
    return Schedule.of(conversation.inbox)


# ---- what changed -------------------------------------------------------------------------------------


def message_recorded(message: Message, *, waiting_before: datetime | None, clock: SlaClock | None = None) -> None:
    """Count a new message. A reply answers the customer: the conversation's first response (the first
    reply after the customer's first message) or a next response (to a customer who waited since
    ``waiting_before``), with the outcome of the response clock it stopped (``clock``)."""
    conversation, at = message.conversation, message.created_at
    if counts_as_in(message):
        _update(
            conversation,
            create=True,
            messages_in=F("messages_in") + 1,
            first_customer_at=Coalesce(F("first_customer_at"), Value(at, output_field=DateTimeField())),
        )
        _volume(message, inbound=True)
        days_dirty(conversation.inbox_id, at)
        return
    if not counts_as_reply(message):
        return
    fact = fact_for(conversation)
    changes = {"messages_out": F("messages_out") + 1}
    if fact.first_customer_at and fact.first_response_at is None and at >= fact.first_customer_at:
        changes.update(
            first_response_at=at,
            first_response_seconds=whole_seconds(fact.first_customer_at, at),
            first_response_business_seconds=business_seconds(_schedule(conversation), fact.first_customer_at, at),
            first_response_agent_id=message.author_id,
        )
    elif waiting_before is not None:
        ResponseFact.objects.create(
            conversation_id=conversation.pk,
            inbox_id=conversation.inbox_id,
            channel=fact.channel,
            agent_id=message.author_id,
            at=at,
            waited_since=waiting_before,
            seconds=whole_seconds(waiting_before, at),
            business_seconds=business_seconds(_schedule(conversation), waiting_before, at),
            sla=clock.outcome if clock is not None and clock.target == Target.NEXT_RESPONSE else "",
        )
    ConversationFact.objects.filter(pk=conversation.pk).update(**changes)
    _volume(message, inbound=False)
    days_dirty(conversation.inbox_id, at)


def _volume(message: Message, *, inbound: bool) -> None:
    """One more message in the conversation's hour: an upsert, so that concurrent messages add up."""
    hour = message.created_at.replace(minute=0, second=0, microsecond=0)
    table = "conversations_volumefact"
    column = "messages_in" if inbound else "messages_out"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (conversation_id, inbox_id, channel, hour, messages_in, messages_out) "
            f"VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (conversation_id, hour) "
            f"DO UPDATE SET {column} = {table}.{column} + 1",
            [
                message.conversation_id,
                message.inbox_id,
                message.conversation.inbox.kind,
                connection.ops.adapt_datetimefield_value(hour),
                int(inbound),
                int(not inbound),
            ],
        )


def status_changed(conversation: Conversation, *, before: str, after: str, at: datetime) -> None:
    """A resolution: resolution times from the opening (the first one's kept for good). A reopening
    (out of resolved): counted, and the conversation no longer counts as resolved."""
    if after == Conversation.Status.RESOLVED:
        fact = ConversationFact.objects.filter(pk=conversation.pk).first()
        if fact is None:
            return
        seconds = whole_seconds(fact.opened_at, at)
        business = business_seconds(_schedule(conversation), fact.opened_at, at)
        changes = {
            "resolutions": F("resolutions") + 1,
            "resolved_at": at,
            "resolution_seconds": seconds,
            "resolution_business_seconds": business,
        }
        if fact.first_resolved_at is None:
            changes.update(
                first_resolved_at=at, first_resolution_seconds=seconds, first_resolution_business_seconds=business
            )
        _update(conversation, **changes)
        days_dirty(fact.inbox_id, at)
    elif before == Conversation.Status.RESOLVED:
        fact = ConversationFact.objects.filter(pk=conversation.pk).first()
        if fact is None:
            return
        _update(
            conversation,
            reopens=F("reopens") + 1,
            resolved_at=None,
            resolution_seconds=None,
            resolution_business_seconds=None,
        )
        # No longer resolved on the day it was, and reopened after its first resolution.
        days_dirty(fact.inbox_id, fact.resolved_at, fact.first_resolved_at)


def sla_settled(clock: SlaClock, *, answered: bool = False) -> None:
    """A clock's outcome: the first response's and the resolution's go on the conversation's row
    (cleared again when a reopening resumes the resolution clock); a next-response clock that breached
    and was never answered is a response of its own, without a time."""
    conversation = clock.conversation
    outcome = clock.outcome if clock.outcome in SETTLED else ""
    at = clock.stopped_at if outcome else None
    if clock.target in (Target.FIRST_RESPONSE, Target.RESOLUTION):
        if clock.target == Target.FIRST_RESPONSE and not outcome:
            return  # a clock cancelled in time leaves an earlier one's outcome in place
        prefix = "sla_first_response" if clock.target == Target.FIRST_RESPONSE else "sla_resolution"
        before = ConversationFact.objects.filter(pk=conversation.pk).values_list("inbox_id", f"{prefix}_at").first()
        if before is None:
            return
        _update(conversation, **{prefix: outcome, f"{prefix}_at": at})
        days_dirty(before[0], before[1], at)
    elif outcome == SlaClock.Outcome.BREACHED and not answered:
        fact = ConversationFact.objects.filter(pk=conversation.pk).first()
        if fact is None:
            return
        ResponseFact.objects.create(
            conversation_id=conversation.pk,
            inbox_id=conversation.inbox_id,
            channel=fact.channel,
            agent_id=None,
            at=at,
            waited_since=clock.started_at,
            seconds=None,
            business_seconds=None,
            sla=outcome,
        )
        days_dirty(fact.inbox_id, at)


def conversation_reassigned(conversation: Conversation) -> None:
    """Reports filter by the conversation's team and assignee as they are now."""
    ConversationFact.objects.filter(pk=conversation.pk).update(
        team_id=conversation.team_id, assignee_id=conversation.assignee_id
    )


def survey_asked(survey: CsatSurvey) -> None:
    _update(survey.conversation, csat_asked_at=survey.asked_at)
    days_dirty(survey.conversation.inbox_id, survey.asked_at)


def survey_answered(survey: CsatSurvey) -> None:
    """A rating counts on the day its question was asked."""
    _update(survey.conversation, csat_rating=survey.rating)
    asked = CsatSurvey.objects.filter(pk=survey.pk).values_list("asked_at", flat=True).first()
    days_dirty(survey.conversation.inbox_id, asked)


def customer_attribution_refresh(customer_id: int) -> None:
    """After a merge, the customer's first channel is that of their earliest conversation, whoever's it was."""
    rows = list(
        Conversation.objects.filter(customer_id=customer_id)
        .order_by("created_at", "id")
        .values_list("pk", "inbox__kind")
    )
    if not rows:
        return
    first_pk, first_channel = rows[0]
    facts = ConversationFact.objects.filter(conversation__customer_id=customer_id)
    facts.update(customer_first_channel=first_channel, customer_first=False)
    ConversationFact.objects.filter(pk=first_pk).update(customer_first=True)
    # New customers count on the day opened, attribution on the day resolved.
    for inbox_id, opened, resolved in facts.values_list("inbox_id", "opened_at", "resolved_at"):
        days_dirty(inbox_id, opened, resolved)
