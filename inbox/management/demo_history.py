"""Six weeks of past support for the demo, so that the Reports page has something to show: customers
writing on every channel, agents answering (fast and slow), resolutions, a few reopenings, service-level
clocks and satisfaction ratings. Written as history (messages, status changes, clocks, surveys) with
their own past times; the report figures are then rebuilt from it by the real code
(``conversations.reports.rebuild``), as ``manage.py reports_rebuild`` does."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, CsatSurvey, Message, SlaClock, SlaPolicy, StatusChange
from conversations.reports.days import report_days_rebuild
from conversations.reports.rebuild import facts_rebuild
from customers.models import ContactIdentity, Customer

NAMES = [
    "Aisha Rahman",
    "Bogdan Ionescu",
    "Chen Wei",
    "Dalia Haddad",
    "Emre Kaya",
    "Farah Aziz",
    "Gita Patel",
    "Hiroshi Sato",
    "Ioana Popa",
    "Jamal Osei",
    "Kanya Srisuk",
    "Lina Nasser",
    "Mihai Dumitru",
    "Nurul Huda",
    "Oliver Grant",
    "Priya Nair",
    "Qing Liu",
    "Rania Saleh",
    "Somchai Wong",
    "Tan Mei Ling",
]
QUESTIONS = [
    "Where is my order?",
    "Can I change the delivery address?",
    "The size is wrong, how do I return it?",
    "Do you ship to Penang?",
    "I was charged twice.",
    "Is this in stock?",
    "My code does not work.",
]
ANSWERS = ["Thanks for waiting, here is the tracking link.", "Done, it's changed.", "I've sent a return label."]
ADDRESS = {"webchat": "webchat", "email": "email", "sms": "phone", "messenger": "messenger"}


def demo_history_seed(*, inboxes: dict, agents: list, days: int = 42, seed: int = 13) -> int:
    """Write the history and rebuild the figures of what it wrote; returns how many conversations."""
    rng = random.Random(seed)
    now = timezone.now().replace(second=0, microsecond=0)
    policy = SlaPolicy.objects.filter(is_active=True).order_by("id").first()
    customers = _customers(rng, inboxes)
    ids = []
    with transaction.atomic():
        for day in range(days, 0, -1):
            for _ in range(rng.randint(3, 9)):
                kind = rng.choices(list(inboxes), weights=[5, 4, 2, 2][: len(inboxes)])[0]
                start = now - timedelta(days=day) + timedelta(hours=rng.choice([8, 9, 10, 11, 13, 14, 15, 16, 19, 22]))
                start += timedelta(minutes=rng.randint(0, 59))
                ids.append(_conversation(rng, inboxes[kind], rng.choice(customers[kind]), agents, policy, start))
    facts_rebuild(conversation_ids=ids)
    report_days_rebuild()
    return len(ids)


def _customers(rng, inboxes) -> dict[str, list[ContactIdentity]]:
    found = {}
    for kind in inboxes:
        found[kind] = []
        for n, name in enumerate(rng.sample(NAMES, 8)):
            customer = Customer.objects.create(name=name)
            address = {
                "webchat": f"demo-visitor-{kind}-{n}",
                "email": name.split()[0].lower() + f".{n}@example.com",
                "sms": f"+6012555{n:04d}",
                "messenger": f"9{n:015d}",
            }[kind]
            found[kind].append(ContactIdentity.objects.create(customer=customer, kind=ADDRESS[kind], address=address))
    return found


def _message(conversation, at: datetime, *, inbound: bool, author=None, text: str, rating=None) -> Message:
    message = Message.objects.create(
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        identity=conversation.identity,
        direction=Message.Direction.INBOUND if inbound else Message.Direction.OUTBOUND,
        sender_type=Message.Sender.CUSTOMER if inbound else Message.Sender.AGENT,
        author=author,
        text=text,
        rating=rating,
        status=Message.Status.RECEIVED if inbound else Message.Status.DELIVERED,
        sent_at=at,
    )
    Message.objects.filter(pk=message.pk).update(created_at=at, updated_at=at)
    return message


def _conversation(rng, inbox, identity, agents, policy, start: datetime) -> int:
    agent = rng.choice(agents)
    conversation = Conversation.objects.create(
        inbox=inbox,
        customer=identity.customer,
        identity=identity,
        assignee=agent,
        status=Conversation.Status.RESOLVED,
        last_message_at=start,
        last_message_preview=rng.choice(QUESTIONS),
    )
    Conversation.objects.filter(pk=conversation.pk).update(created_at=start)
    at = start
    _message(conversation, at, inbound=True, text=conversation.last_message_preview)
    first_wait = rng.choice([2, 5, 9, 15, 25, 40, 70, 180, 600])  # minutes
    at += timedelta(minutes=first_wait)
    _message(conversation, at, inbound=False, author=agent, text=rng.choice(ANSWERS))
    first_reply = at
    if rng.random() < 0.5:  # a follow-up and its answer
        at += timedelta(minutes=rng.randint(3, 60))
        _message(conversation, at, inbound=True, text="Thank you! One more question.")
        at += timedelta(minutes=rng.choice([4, 10, 30, 90]))
        _message(conversation, at, inbound=False, author=agent, text="Of course, happy to help.")
    at += timedelta(minutes=rng.randint(5, 240))
    resolved = at
    StatusChange.objects.create(conversation=conversation, at=at, before="open", after="resolved", actor=agent)
    if policy is not None and policy.first_response_seconds:
        met = first_wait * 60 <= policy.first_response_seconds
        SlaClock.objects.create(
            conversation=conversation,
            policy=policy,
            target=SlaClock.Target.FIRST_RESPONSE,
            target_seconds=policy.first_response_seconds,
            business_hours=policy.business_hours,
            started_at=start,
            used_seconds=first_wait * 60,
            stopped_at=first_reply,
            breached_at=None if met else start + timedelta(seconds=policy.first_response_seconds),
            outcome=SlaClock.Outcome.MET if met else SlaClock.Outcome.BREACHED,
        )
    if rng.random() < 0.6:
        rating = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 5, 8])[0]
        answered = rng.random() < 0.7
        answer = (
            _message(conversation, resolved + timedelta(minutes=20), inbound=True, text="", rating=rating)
            if answered
            else None
        )
        CsatSurvey.objects.create(
            conversation=conversation,
            identity=identity,
            state=CsatSurvey.State.ANSWERED if answered else CsatSurvey.State.ASKED,
            due_at=resolved,
            asked_at=resolved,
            answer=answer,
            rating=rating if answered else None,
            answered_at=resolved + timedelta(minutes=20) if answered else None,
            agent=agent,
        )
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=at, updated_at=at)
    return conversation.pk
