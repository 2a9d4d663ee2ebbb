"""Business hours and the away reply, on a controlled clock."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from conversations.away import away_reply
from conversations.business_hours import Schedule, parse_weekly_hours, weekly_hours_text
from conversations.ingest import message_ingest
from conversations.models import Message
from customers.models import ContactIdentity
from inbox.models import Inbox
from tests.factories import InboxFactory
from tests.helpers import inbound

KL = "Asia/Kuala_Lumpur"  # UTC+8, no summer time
# Monday to Friday 09:00–12:00 and 13:00–17:30 (a split shift); Friday night 22:00–02:00 too.
HOURS = parse_weekly_hours(
    "Mon 09:00-12:00 13:00-17:30\nTue 09:00-12:00 13:00-17:30\nWed 09:00-12:00 13:00-17:30\n"
    "Thu 09:00-12:00 13:00-17:30\nFri 09:00-12:00 13:00-17:30 22:00-02:00"
)


def kl(day, hour, minute=0):
    """A moment in Kuala Lumpur, in December 2026 (the 7th is a Monday), as UTC."""
    return datetime(2026, 12, day, hour, minute, tzinfo=ZoneInfo(KL)).astimezone(UTC)


def schedule(**extra):
    inbox = Inbox(hours_enabled=True, time_zone=KL, weekly_hours=HOURS, **extra)
    return Schedule.of(inbox)


def test_the_hours_text_is_read_and_written_back():
    assert HOURS["0"] == [["09:00", "12:00"], ["13:00", "17:30"]] and HOURS["4"][-1] == ["22:00", "02:00"]
    assert parse_weekly_hours(weekly_hours_text(HOURS)) == HOURS
    with pytest.raises(ValueError, match="Line 1: “9-5” is not a period"):
        parse_weekly_hours("Mon 9-5")
    with pytest.raises(ValueError, match="Line 2: start with a day"):
        parse_weekly_hours("Mon 09:00-17:00\n09:00-17:00")


@pytest.mark.parametrize(
    "moment, open_",
    [
        (kl(7, 8, 59), False),  # Monday before nine
        (kl(7, 9, 0), True),
        (kl(7, 12, 30), False),  # the lunch break between the two periods
        (kl(7, 13, 0), True),
        (kl(7, 17, 30), False),  # closing time is closed
        (kl(11, 23, 0), True),  # Friday's night shift
        (kl(12, 1, 59), True),  # … past midnight into Saturday
        (kl(12, 2, 0), False),
        (kl(12, 10, 0), False),  # Saturday
    ],
)
def test_split_shifts_and_a_night_past_midnight_in_the_inboxs_own_zone(moment, open_):
    assert schedule().is_open(moment) is open_


def test_public_and_custom_holidays_close_the_day():
    # 25 December is a public holiday in Malaysia (Christmas); the 24th is the team's own.
    with_holidays = schedule(holiday_country="MY", custom_holidays=["2026-12-24"])
    assert schedule().is_open(kl(24, 10)) and schedule().is_open(kl(25, 10))
    assert not with_holidays.is_open(kl(24, 10)) and not with_holidays.is_open(kl(25, 10))
    assert with_holidays.is_open(kl(23, 10))
    assert with_holidays.next_open(kl(24, 10)) == kl(28, 9)  # Saturday, Sunday closed too


def test_a_closed_spell_is_named_by_when_it_began():
    s = schedule()
    assert s.closed_since(kl(7, 10)) is None
    assert s.closed_since(kl(7, 12, 10)) == s.closed_since(kl(7, 12, 50)) == kl(7, 12)
    assert s.closed_since(kl(12, 10)) == s.closed_since(kl(13, 20)) == kl(12, 2)  # the whole weekend


@pytest.fixture
def away_inbox(db):
    return InboxFactory(
        kind="fake", hours_enabled=True, time_zone=KL, weekly_hours=HOURS, away_message="We are away until 09:00."
    )


def write(inbox, text="Hello?", **extra):
    return message_ingest(inbox=inbox, inbound=inbound(text, kind="email", address="ada@example.com", **extra))


def away_replies():
    return list(Message.objects.filter(sender_type=Message.Sender.SYSTEM).values_list("text", flat=True))


def test_the_away_reply_goes_once_per_closed_spell_and_never_in_hours(away_inbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert away_reply(write(away_inbox), now=kl(7, 10)) is None  # open
        away_reply(write(away_inbox, "Anyone?"), now=kl(7, 12, 10))  # lunch
        away_reply(write(away_inbox, "Still there?"), now=kl(7, 12, 40))  # the same lunch
        away_reply(write(away_inbox, "Evening"), now=kl(7, 19))  # a new spell: the evening
    assert away_replies() == ["We are away until 09:00.", "We are away until 09:00."]
    reply = Message.objects.filter(sender_type=Message.Sender.SYSTEM).first()
    assert reply.status == Message.Status.SENT  # sent by the channel, marked automatic


def test_no_away_reply_to_a_machine_or_an_opted_out_number(away_inbox):
    away_reply(write(away_inbox, "Out of office", automatic="auto_reply"), now=kl(7, 19))
    away_reply(write(away_inbox, "Undeliverable", automatic="bounce"), now=kl(7, 19))
    message = write(away_inbox, "Hello")
    ContactIdentity.objects.filter(pk=message.identity_id).update(opted_out_at=kl(7, 18))
    message.identity.refresh_from_db()
    away_reply(message, now=kl(7, 19))
    assert away_replies() == []


def test_an_inbox_without_hours_or_without_a_text_never_replies(db):
    no_hours = InboxFactory(kind="fake", away_message="Away")
    no_text = InboxFactory(kind="fake", hours_enabled=True, time_zone=KL, weekly_hours={}, away_message="")
    assert away_reply(write(no_hours), now=kl(12, 10)) is None
    assert away_reply(write(no_text), now=kl(12, 10)) is None


def test_a_customer_writing_through_the_webhook_while_closed_is_told_once(
    db, client, django_capture_on_commit_callbacks
):
    from tests.helpers import fake_payload, post_fake_webhook

    # Hours kept, and none at all this week: closed whenever the test runs.
    inbox = InboxFactory(kind="fake", hours_enabled=True, time_zone=KL, weekly_hours={}, away_message="We are away.")
    with django_capture_on_commit_callbacks(execute=True):
        post_fake_webhook(client, inbox, fake_payload(id="m1", text="Hello?"))
        post_fake_webhook(client, inbox, fake_payload(id="m2", text="Anyone?"))
        post_fake_webhook(client, inbox, fake_payload(id="m1", text="Hello?"))  # the provider's retry
    assert away_replies() == ["We are away."]
    reply = Message.objects.get(sender_type=Message.Sender.SYSTEM)
    assert reply.direction == Message.Direction.OUTBOUND and reply.status == Message.Status.SENT


def test_a_broken_away_setting_never_costs_the_customers_message(db, client, caplog):
    from tests.helpers import fake_payload, post_fake_webhook

    inbox = InboxFactory(kind="fake", hours_enabled=True, time_zone="Not/AZone", away_message="Away")
    post_fake_webhook(client, inbox, fake_payload(id="m1", text="Hello?"))
    assert Message.objects.get().text == "Hello?" and away_replies() == []
    assert "the away reply to message" in caplog.text
