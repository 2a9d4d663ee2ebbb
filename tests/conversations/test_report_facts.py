"""The reports' pre-aggregates, kept by the services as things happen, equal a rebuild from history,
whatever happened: random sequences of what customers, agents and the clock do."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from conversations import actions, csat, sla
from conversations.business_hours import parse_weekly_hours
from conversations.ingest import message_ingest
from conversations.models import (
    Conversation,
    ConversationFact,
    CsatSurvey,
    Label,
    ResponseFact,
    SlaPolicy,
    VolumeFact,
)
from conversations.replies import message_reply
from conversations.reports.days import report_days_refresh
from customers.models import Customer
from customers.services import customer_merge
from inbox.models import Team
from tests.factories import InboxFactory, MembershipFactory
from tests.helpers import inbound

START = datetime(2026, 11, 2, 8, tzinfo=UTC)  # a Monday


def rollup_rows() -> list:
    from conversations.models import ReportDay

    fields = [f.attname for f in ReportDay._meta.concrete_fields if f.attname != "id"]
    return sorted(
        (
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in ReportDay.objects.values_list(*fields)
        ),
        key=repr,
    )


def snapshot() -> dict:
    def rows(model, *exclude):
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in ("id", *exclude)]
        return sorted(model.objects.values_list(*fields), key=repr)

    return {
        "conversations": rows(ConversationFact),
        "responses": rows(ResponseFact),
        "volume": rows(VolumeFact),
    }


class World:
    """A small support team: two inboxes (one keeping business hours), three agents, a team, labels,
    service levels and surveys, and a clock that only moves forward."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.now = START
        hours = parse_weekly_hours("Mon 09:00-17:00\nTue 09:00-17:00\nWed 09:00-12:00 13:00-17:00\nFri 22:00-04:00")
        self.inboxes = [
            InboxFactory(
                kind="fake", csat_enabled=True, hours_enabled=True, time_zone="Europe/Bucharest", weekly_hours=hours
            ),
            InboxFactory(kind="fake", csat_enabled=True, csat_delay_minutes=30),
        ]
        self.agents = [MembershipFactory(inbox=self.inboxes[0]).user for _ in range(3)]
        for agent in self.agents:
            MembershipFactory(inbox=self.inboxes[1], user=agent)
        self.team = Team.objects.create(name="Returns")
        self.labels = [Label.objects.create(name="VIP"), Label.objects.create(name="Refund")]
        SlaPolicy.objects.create(
            name="Hours",
            business_hours=True,
            first_response_seconds=3600,
            next_response_seconds=1800,
            resolution_seconds=8 * 3600,
            inbox=self.inboxes[0],
        )
        SlaPolicy.objects.create(
            name="VIP",
            business_hours=False,
            first_response_seconds=900,
            next_response_seconds=900,
            label=self.labels[0],
        )
        self.addresses = [f"customer{n}@example.com" for n in range(5)]

    def tick(self):
        self.now += timedelta(minutes=self.rng.choice([1, 7, 25, 50, 140, 600]))

    def conversation(self):
        ids = list(Conversation.objects.order_by("pk").values_list("pk", flat=True))
        if not ids:
            return None
        return Conversation.objects.select_related("inbox", "customer", "assignee", "identity").get(
            pk=self.rng.choice(ids)
        )

    # ---- what happens ------------------------------------------------------------------------------

    def customer_writes(self):
        inbox = self.rng.choice(self.inboxes)
        automatic = self.rng.random() < 0.1
        message_ingest(
            inbox=inbox,
            inbound=inbound(
                "Hello?",
                kind="email",
                address=self.rng.choice(self.addresses),
                automatic="auto_reply" if automatic else "",
            ),
        )

    def agent_replies(self):
        if conversation := self.conversation():
            message_reply(conversation=conversation, author=self.rng.choice(self.agents), text="On it")

    def note(self):
        if conversation := self.conversation():
            actions.note_add(conversation=conversation, author=self.agents[0], text="Checking")

    def status(self):
        if conversation := self.conversation():
            status = self.rng.choice(["open", "pending", "resolved", "resolved", "snoozed"])
            until = self.now + timedelta(hours=self.rng.choice([1, 5])) if status == "snoozed" else None
            actions.conversation_set_status(
                conversation=conversation, status=status, actor=self.rng.choice(self.agents), snooze_until=until
            )

    def assign(self):
        if conversation := self.conversation():
            if self.rng.random() < 0.5:
                actions.conversation_assign(
                    conversation=conversation, assignee_id=self.rng.choice(self.agents).pk, actor=self.agents[0]
                )
            else:
                actions.conversation_set_team(conversation=conversation, team_id=self.team.pk, actor=self.agents[0])

    def label(self):
        if conversation := self.conversation():
            chosen = [label.pk for label in self.labels if self.rng.random() < 0.5]
            actions.conversation_set_labels(conversation=conversation, label_ids=chosen, actor=self.agents[1])

    def priority(self):
        if conversation := self.conversation():
            actions.conversation_set_priority(
                conversation=conversation, priority=self.rng.choice([0, 2, 4]), actor=self.agents[1]
            )

    def beat(self):
        actions.conversations_wake_snoozed()
        sla.sla_breaches_settle()
        csat.surveys_ask_due()
        report_days_refresh()

    def survey_answer(self):
        asked = list(CsatSurvey.objects.filter(state="asked"))
        if asked:
            survey = self.rng.choice(sorted(asked, key=lambda s: s.pk))
            csat.survey_answer(survey=survey, rating=self.rng.randint(1, 5), comment=self.rng.choice(["", "Thanks"]))

    def merge(self):
        customers = list(Customer.objects.filter(merged_into__isnull=True).order_by("pk"))
        if len(customers) > 2 and self.rng.random() < 0.3:
            source, target = self.rng.sample(customers, 2)
            customer_merge(source=source, target=target)


ACTIONS = {
    "customer_writes": 8,
    "agent_replies": 6,
    "note": 1,
    "status": 4,
    "assign": 2,
    "label": 2,
    "priority": 1,
    "beat": 3,
    "survey_answer": 2,
    "merge": 1,
}


@pytest.mark.parametrize("seed", range(16))
def test_the_kept_figures_equal_a_rebuild_from_history(db, seed, django_capture_on_commit_callbacks):
    rng = random.Random(seed)
    world = World(rng)
    names, weights = zip(*ACTIONS.items(), strict=True)
    for _ in range(90):
        world.tick()
        with time_machine.travel(world.now, tick=False), django_capture_on_commit_callbacks(execute=True):
            getattr(world, rng.choices(names, weights)[0])()
    report_days_refresh()
    kept, kept_days = snapshot(), rollup_rows()
    assert kept["conversations"] and kept["volume"] and kept_days
    with time_machine.travel(world.now, tick=False):
        call_command("reports_rebuild", verbosity=0)
    rebuilt = snapshot()
    for table in kept:
        assert rebuilt[table] == kept[table], table
    # The daily rollup the page adds up agrees with the facts, for every day and filter.
    from conversations.reports.figures import ReportFilter, facts_report
    from conversations.reports.report import report_figures
    from tests.conversations.test_report_figures import same

    assert rollup_rows() == kept_days  # the command rebuilt the days too
    week = ReportFilter(START - timedelta(days=1), world.now + timedelta(days=1), ZoneInfo("UTC"))
    for filters in ({}, {"business": True}, {"inbox_ids": (world.inboxes[0].pk,)}):
        view = ReportFilter(**{**week.__dict__, **filters})
        assert same(report_figures(view), facts_report(view)), filters
