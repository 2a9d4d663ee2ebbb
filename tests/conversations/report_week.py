"""A week of support, played through the real services on a controlled clock, whose every report
figure has been worked out by hand (tests/conversations/test_report_figures.py holds them).

Two inboxes: a website chat without business hours, and email open Monday to Friday 09:00–17:00 UTC.
One policy for all: first and next response within an hour, resolution within a day, calendar time.
Both ask for satisfaction as soon as a conversation is resolved.

  A  chat, Ada      Mon 10:00 writes · 10:20 Sam answers · 10:30, 11:00 writes · 11:45 Sam answers
                    (75 min: next response breached) · 12:00 resolved · rates 5
  B  email, Bea     Mon 16:30 writes · Tue 09:30 Kim answers (17 h; 1 h in business hours; breached)
                    · 10:00 resolved · 11:00 writes (reopened) · 11:30 Kim answers · 12:00 resolved
  C  email, Cy      Wed 09:00 writes · 09:10 Sam answers · 09:15 pending · Thu 09:00 resolved · rates 2
  D  chat, Dee      Thu 10:00 writes · nobody answers (breached at 11:00) · 13:00 resolved
  E  email, Ada     Wed 14:00 writes from another address, merged into Ada (who came by chat first) ·
                    14:30 Sam answers · 15:00 resolved · rates 4 by the email's link
  F  email          Wed 16:00 an auto-reply: in no report
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import time_machine

from conversations import actions, csat, sla
from conversations.business_hours import parse_weekly_hours
from conversations.csat_question import answer_link
from conversations.ingest import message_ingest
from conversations.models import Conversation, CsatSurvey, SlaPolicy
from conversations.replies import message_reply
from customers.services import customer_merge
from tests.factories import InboxFactory, MembershipFactory, UserFactory
from tests.helpers import inbound

HOUR = 3600
MONDAY = datetime(2026, 11, 2, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Day 0 is Monday 2 November 2026, in UTC."""
    return MONDAY.replace(day=2 + day, hour=hour, minute=minute)


@dataclass
class Week:
    chat: object
    mail: object
    sam: object
    kim: object
    conversations: dict


def play(client, capture) -> Week:
    chat = InboxFactory(kind="webchat", name="Website", csat_enabled=True)
    mail = InboxFactory(
        kind="email",
        name="Support mail",
        settings={"address": "support@example.com"},
        csat_enabled=True,
        hours_enabled=True,
        time_zone="UTC",
        weekly_hours=parse_weekly_hours("\n".join(f"{d} 09:00-17:00" for d in ("Mon", "Tue", "Wed", "Thu", "Fri"))),
    )
    sam, kim = UserFactory(first_name="Sam"), UserFactory(first_name="Kim")
    for inbox in (chat, mail):
        for agent in (sam, kim):
            MembershipFactory(inbox=inbox, user=agent)
    SlaPolicy.objects.create(
        name="Standard",
        business_hours=False,
        first_response_seconds=HOUR,
        next_response_seconds=HOUR,
        resolution_seconds=24 * HOUR,
    )
    conversations = {}

    def step(moment, action):
        with time_machine.travel(moment, tick=False), capture(execute=True):
            return action()

    def writes(key, inbox, kind, address, moment, text="Hello", **extra):
        message = step(
            moment, lambda: message_ingest(inbox=inbox, inbound=inbound(text, kind=kind, address=address, **extra))
        )
        conversations.setdefault(key, message.conversation_id)

    def answers(key, agent, moment):
        step(moment, lambda: message_reply(conversation=_fresh(conversations[key]), author=agent, text="Here to help"))

    def status(key, value, moment, agent=sam):
        step(
            moment,
            lambda: actions.conversation_set_status(conversation=_fresh(conversations[key]), status=value, actor=agent),
        )

    writes("A", chat, "webchat", "visitor-ada", at(0, 10))
    answers("A", sam, at(0, 10, 20))
    step(at(0, 10, 25), lambda: actions.note_add(conversation=_fresh(conversations["A"]), author=kim, text="VIP"))
    writes("A", chat, "webchat", "visitor-ada", at(0, 10, 30))
    writes("A", chat, "webchat", "visitor-ada", at(0, 11))
    step(at(0, 11, 40), sla.sla_breaches_settle)
    answers("A", sam, at(0, 11, 45))
    status("A", "resolved", at(0, 12))
    survey = CsatSurvey.objects.get(conversation_id=conversations["A"])
    step(
        at(0, 12, 5),
        lambda: csat.visitor_survey_answer(inbox=chat, visitor_id="visitor-ada", token=survey.token, rating=5),
    )

    writes("B", mail, "email", "bea@example.com", at(0, 16, 30))
    step(at(0, 18), sla.sla_breaches_settle)
    answers("B", kim, at(1, 9, 30))
    status("B", "resolved", at(1, 10), kim)
    # A reply to our mail (to its reply+token address): it joins B and reopens it.
    reply_token = _fresh(conversations["B"]).reply_token
    writes("B", mail, "email", "bea@example.com", at(1, 11), "One more thing", thread_token=reply_token)
    answers("B", kim, at(1, 11, 30))
    status("B", "resolved", at(1, 12), kim)

    writes("C", mail, "email", "cy@example.com", at(2, 9))
    answers("C", sam, at(2, 9, 10))
    status("C", "pending", at(2, 9, 15))
    status("C", "resolved", at(3, 9))
    survey = CsatSurvey.objects.get(conversation_id=conversations["C"])
    step(at(3, 9, 30), lambda: csat.survey_answer(survey=survey, rating=2, comment="Slow"))

    writes("E", mail, "email", "ada.two@example.com", at(2, 14))
    ada = _fresh(conversations["A"]).customer
    step(at(2, 14, 5), lambda: customer_merge(source=_fresh(conversations["E"]).customer, target=ada))
    answers("E", sam, at(2, 14, 30))
    status("E", "resolved", at(2, 15))
    survey = CsatSurvey.objects.get(conversation_id=conversations["E"])
    with time_machine.travel(at(2, 16), tick=False):
        assert client.get(answer_link(survey, 4)).status_code == 200

    writes("F", mail, "email", "mailer@example.com", at(2, 16), "Out of office", automatic="auto_reply")

    writes("D", chat, "webchat", "visitor-dee", at(3, 10))
    step(at(3, 12), sla.sla_breaches_settle)
    status("D", "resolved", at(3, 13))
    return Week(chat, mail, sam, kim, conversations)


def _fresh(pk):
    return Conversation.objects.select_related("inbox", "customer", "assignee", "identity").get(pk=pk)
