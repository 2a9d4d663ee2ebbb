"""The widget tells visitors whether the team is in, when it is back, and how soon it usually replies;
outside hours it takes an email to answer at, kept as what the visitor says (never a link)."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from conversations.business_hours import parse_weekly_hours
from conversations.models import Conversation, ConversationFact
from customers.models import Customer
from tests.factories import ConversationFactory, InboxFactory
from tests.sockets import hello, receive_json, say, widget_socket

pytestmark = pytest.mark.django_db(transaction=True)
ORIGINS = {"allowed_origins": ["https://shop.example"]}


def typical_week(inbox, seconds):
    """Conversations answered in these times over the last days, as the reports keep them."""
    now = timezone.now()
    for n, value in enumerate(seconds):
        conversation = ConversationFactory(inbox=inbox)
        ConversationFact.objects.create(
            conversation=conversation,
            inbox=inbox,
            channel="webchat",
            customer_first_channel="webchat",
            opened_at=now - timedelta(days=n + 1),
            first_response_at=now - timedelta(days=n + 1),
            first_response_seconds=value,
        )
    # One from long ago does not count.
    old = ConversationFactory(inbox=inbox)
    ConversationFact.objects.create(
        conversation=old,
        inbox=inbox,
        channel="webchat",
        customer_first_channel="webchat",
        opened_at=now - timedelta(days=60),
        first_response_at=now - timedelta(days=60),
        first_response_seconds=99999,
    )


async def test_open_hours_and_the_usual_reply_time_come_with_the_welcome():
    inbox = await sync_to_async(InboxFactory)(kind="webchat", settings=ORIGINS)
    await sync_to_async(typical_week)(inbox, [300, 1200, 7200])
    visitor = await widget_socket(inbox.public_token)
    welcome = await hello(visitor, name="Vera")
    assert welcome["away"] is False and welcome["back_at"] is None
    assert welcome["reply_within"] == 1200  # the median of the last 30 days
    await visitor.disconnect()


async def test_outside_hours_the_widget_is_away_and_takes_an_email_as_a_claim():
    # Hours kept, none this week: closed now, whenever the test runs.
    inbox = await sync_to_async(InboxFactory)(
        kind="webchat",
        settings=ORIGINS,
        hours_enabled=True,
        time_zone="UTC",
        weekly_hours=parse_weekly_hours(""),
    )
    visitor = await widget_socket(inbox.public_token)
    welcome = await hello(visitor, name="Vera")
    assert welcome["away"] is True and welcome["reply_within"] is None
    await say(visitor, "Is the red one in stock?", "m1")
    await visitor.send_to(text_data='{"type": "contact", "email": "not an address"}')
    assert (await receive_json(visitor))["code"] == "bad_email"
    await visitor.send_to(text_data='{"type": "contact", "email": "vera@example.com"}')
    assert await receive_json(visitor) == {"type": "contact", "email": "vera@example.com"}
    customer = await sync_to_async(lambda: Conversation.objects.select_related("customer").get().customer)()
    assert customer.attributes["unverified_email"] == "vera@example.com" and customer.attributes["reply_by"] == "email"
    # Only what they say: no email identity, no link to anyone.
    assert await sync_to_async(lambda: list(customer.identities.values_list("kind", flat=True)))() == ["webchat"]
    assert await sync_to_async(Customer.objects.count)() == 1
    await visitor.disconnect()
