"""The reports' pre-aggregates rebuilt from history: each conversation's messages and status changes,
its service-level clocks and its survey, replayed in order by the rules ``facts`` applies as things
happen (docs/metrics.md). ``manage.py reports_rebuild`` runs it; a test holds the result equal to what
``facts`` kept. Business hours are counted by each inbox's hours as they are now."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from conversations.business_hours import Schedule
from conversations.models import (
    Conversation,
    ConversationFact,
    CsatSurvey,
    Message,
    ResponseFact,
    SlaClock,
    StatusChange,
    VolumeFact,
)
from conversations.reports.facts import SETTLED, business_seconds, counts_as_in, counts_as_reply, whole_seconds

Target = SlaClock.Target
RESOLVED = Conversation.Status.RESOLVED


@dataclass
class _Replay:
    """One conversation's figures, as its history unfolds."""

    fact: ConversationFact
    schedule: Schedule | None
    responses: list[ResponseFact] = field(default_factory=list)
    volume: dict[datetime, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    waiting: datetime | None = None
    # The row exists from the first counted message on: what happened before it is in no report.
    started: bool = False

    def status(self, change: StatusChange) -> None:
        fact, at = self.fact, change.at
        if change.after == RESOLVED:
            self.waiting = None  # nobody waits on a resolved conversation
            if not self.started:
                return
            seconds = whole_seconds(fact.opened_at, at)
            business = business_seconds(self.schedule, fact.opened_at, at)
            fact.resolutions += 1
            fact.resolved_at, fact.resolution_seconds, fact.resolution_business_seconds = at, seconds, business
            if fact.first_resolved_at is None:
                fact.first_resolved_at, fact.first_resolution_seconds = at, seconds
                fact.first_resolution_business_seconds = business
        elif change.before == RESOLVED and self.started:
            fact.reopens += 1
            fact.resolved_at = fact.resolution_seconds = fact.resolution_business_seconds = None

    def message(self, message: Message) -> None:
        fact, at = self.fact, message.created_at
        hour = at.replace(minute=0, second=0, microsecond=0)
        if counts_as_in(message) or counts_as_reply(message):
            self.started = True
        if counts_as_in(message):
            fact.messages_in += 1
            fact.first_customer_at = fact.first_customer_at or at
            self.volume[hour][0] += 1
        if message.direction == Message.Direction.INBOUND and not message.automatic and message.rating is None:
            self.waiting = self.waiting or at
            return
        if not counts_as_reply(message):
            return
        fact.messages_out += 1
        self.volume[hour][1] += 1
        if fact.first_customer_at and fact.first_response_at is None and at >= fact.first_customer_at:
            fact.first_response_at = at
            fact.first_response_seconds = whole_seconds(fact.first_customer_at, at)
            fact.first_response_business_seconds = business_seconds(self.schedule, fact.first_customer_at, at)
            fact.first_response_agent_id = message.author_id
        elif self.waiting is not None:
            self.responses.append(
                ResponseFact(
                    conversation_id=fact.conversation_id,
                    inbox_id=fact.inbox_id,
                    channel=fact.channel,
                    agent_id=message.author_id,
                    at=at,
                    waited_since=self.waiting,
                    seconds=whole_seconds(self.waiting, at),
                    business_seconds=business_seconds(self.schedule, self.waiting, at),
                    sla="",
                )
            )
        self.waiting = None

    def clocks(self, clocks: list[SlaClock], replies: set[datetime]) -> None:
        """The clocks' outcomes: the latest first-response and resolution ones on the row, each next
        response's on the reply that stopped it, or a row of its own when it breached unanswered."""
        fact = self.fact
        if not self.started:
            return
        # The row keeps the last first-response clock that ended met or breached (a conversation
        # resolved unanswered and reopened times a new one), and the resolution clock as it is now
        # (reopening resumes it, and it counts again only once stopped).
        settled = [c for c in clocks if c.target == Target.FIRST_RESPONSE and c.stopped_at and c.outcome in SETTLED]
        resolution = [c for c in clocks if c.target == Target.RESOLUTION]
        latest = {Target.FIRST_RESPONSE: settled[-1:], Target.RESOLUTION: resolution[-1:]}
        for target, prefix in ((Target.FIRST_RESPONSE, "sla_first_response"), (Target.RESOLUTION, "sla_resolution")):
            clock = latest[target][0] if latest[target] else None
            if clock is not None and clock.stopped_at is not None and clock.outcome in SETTLED:
                setattr(fact, prefix, clock.outcome)
                setattr(fact, f"{prefix}_at", clock.stopped_at)
        by_time = {response.at: response for response in self.responses}
        for clock in clocks:
            if clock.target != Target.NEXT_RESPONSE or clock.stopped_at is None or clock.outcome not in SETTLED:
                continue
            if clock.stopped_at in replies:  # a reply stopped it
                if clock.stopped_at in by_time:
                    by_time[clock.stopped_at].sla = clock.outcome
            elif clock.outcome == SlaClock.Outcome.BREACHED:
                self.responses.append(
                    ResponseFact(
                        conversation_id=fact.conversation_id,
                        inbox_id=fact.inbox_id,
                        channel=fact.channel,
                        agent_id=None,
                        at=clock.stopped_at,
                        waited_since=clock.started_at,
                        seconds=None,
                        business_seconds=None,
                        sla=clock.outcome,
                    )
                )

    def survey(self, survey: CsatSurvey | None) -> None:
        if survey is None or survey.asked_at is None or not self.started:
            return
        self.fact.csat_asked_at = survey.asked_at
        if survey.rating is not None:
            self.fact.csat_rating = survey.rating


def replay(conversation: Conversation, *, first_by_customer: dict[int, tuple[int, str]], **history) -> _Replay:
    """Replay one conversation's history (``messages``, ``changes``, ``clocks``, ``survey``)."""
    channel = conversation.inbox.kind
    first = first_by_customer.get(conversation.customer_id, (conversation.pk, channel))
    run = _Replay(
        fact=ConversationFact(
            conversation_id=conversation.pk,
            inbox_id=conversation.inbox_id,
            channel=channel,
            team_id=conversation.team_id,
            assignee_id=conversation.assignee_id,
            customer_first_channel=first[1],
            customer_first=first[0] == conversation.pk,
            opened_at=conversation.created_at,
        ),
        schedule=Schedule.of(conversation.inbox),
    )
    # A status change and a message at one moment: the change first (a customer's message reopens,
    # then waits for an answer).
    events = [(c.at, 0, c.pk, c) for c in history["changes"]] + [
        (m.created_at, 1, m.pk, m) for m in history["messages"]
    ]
    for _at, kind, _pk, event in sorted(events, key=lambda e: e[:3]):
        run.status(event) if kind == 0 else run.message(event)
    replies = {m.created_at for m in history["messages"] if counts_as_reply(m)}
    run.clocks(history["clocks"], replies)
    run.survey(history["survey"])
    return run


def facts_rebuild(*, conversation_ids: Iterable[int] | None = None, batch_size: int = 500) -> int:
    """Rebuild the pre-aggregates of these conversations (all, by default) from history, in batches,
    each batch in one transaction. Returns how many conversations were rebuilt."""
    conversations = Conversation.objects.order_by("pk")
    if conversation_ids is not None:
        conversations = conversations.filter(pk__in=list(conversation_ids))
    done, last = 0, 0
    while True:
        batch = list(conversations.filter(pk__gt=last).select_related("inbox")[:batch_size])
        if not batch:
            return done
        _rebuild_batch(batch)
        done += len(batch)
        last = batch[-1].pk


def _rebuild_batch(batch: list[Conversation]) -> None:
    ids = [c.pk for c in batch]
    grouped: dict[str, dict[int, list]] = {name: defaultdict(list) for name in ("messages", "changes", "clocks")}
    for message in (
        Message.objects.filter(conversation_id__in=ids)
        .exclude(direction=Message.Direction.NOTE)
        .only(
            "conversation_id",
            "direction",
            "sender_type",
            "automatic",
            "rating",
            "recipients",
            "author_id",
            "created_at",
        )
    ):
        grouped["messages"][message.conversation_id].append(message)
    for change in StatusChange.objects.filter(conversation_id__in=ids).order_by("at", "id"):
        grouped["changes"][change.conversation_id].append(change)
    for clock in SlaClock.objects.filter(conversation_id__in=ids).order_by("started_at", "id"):
        grouped["clocks"][clock.conversation_id].append(clock)
    surveys = {s.conversation_id: s for s in CsatSurvey.objects.filter(conversation_id__in=ids)}
    first_by_customer: dict[int, tuple[int, str]] = {}
    customers = {c.customer_id for c in batch}
    for customer_id, pk, kind in (
        Conversation.objects.filter(customer_id__in=customers)
        .order_by("customer_id", "created_at", "id")
        .values_list("customer_id", "pk", "inbox__kind")
    ):
        first_by_customer.setdefault(customer_id, (pk, kind))
    runs = [
        replay(
            conversation,
            first_by_customer=first_by_customer,
            messages=grouped["messages"][conversation.pk],
            changes=grouped["changes"][conversation.pk],
            clocks=grouped["clocks"][conversation.pk],
            survey=surveys.get(conversation.pk),
        )
        for conversation in batch
    ]
    with transaction.atomic():
        ConversationFact.objects.filter(pk__in=ids).delete()
        ResponseFact.objects.filter(conversation_id__in=ids).delete()
        VolumeFact.objects.filter(conversation_id__in=ids).delete()
        runs = [run for run in runs if run.started]
        ConversationFact.objects.bulk_create([run.fact for run in runs])
        ResponseFact.objects.bulk_create([r for run in runs for r in run.responses])
        VolumeFact.objects.bulk_create(
            [
                VolumeFact(
                    conversation_id=run.fact.conversation_id,
                    inbox_id=run.fact.inbox_id,
                    channel=run.fact.channel,
                    hour=hour,
                    messages_in=counts[0],
                    messages_out=counts[1],
                )
                for run in runs
                for hour, counts in run.volume.items()
            ]
        )
