import functools
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.delivery import message_status_update, messages_requeue_stale
from conversations.ingest import message_ingest
from conversations.intake import (
    inbound_event_process,
    inbound_event_receive,
    inbound_event_record,
    inbound_events_retry_stale,
)
from conversations.models import Conversation, InboundEvent, Message
from conversations.replies import message_reply
from customers.models import ContactIdentity, Customer
from inbox.connectors import fake
from inbox.connectors.contract import IdentityClaim, StatusUpdate
from tests.factories import ConversationFactory, InboxFactory
from tests.helpers import fake_payload, inbound, run_concurrently

pytestmark = pytest.mark.django_db


def test_first_message_creates_customer_identity_conversation_and_message(webchat_inbox):
    message = message_ingest(inbox=webchat_inbox, inbound=inbound("Where is my order?", name="Ada"))

    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.inbox == webchat_inbox
    assert conversation.customer.name == "Ada"
    assert conversation.status == Conversation.Status.OPEN
    assert conversation.last_message_preview == "Where is my order?"
    assert conversation.last_message_at == message.created_at
    assert list(conversation.customer.identities.values_list("kind", "address")) == [("webchat", "visitor-1")]


def test_next_message_from_same_identity_joins_the_same_conversation(webchat_inbox):
    first = message_ingest(inbox=webchat_inbox, inbound=inbound("one"))
    second = message_ingest(inbox=webchat_inbox, inbound=inbound("two"))
    assert first.conversation_id == second.conversation_id
    assert Customer.objects.count() == 1


def test_same_external_id_twice_is_one_message(webchat_inbox):
    first = message_ingest(inbox=webchat_inbox, inbound=inbound("hi", external_id="evt-1"))
    again = message_ingest(inbox=webchat_inbox, inbound=inbound("hi", external_id="evt-1"))
    assert first.pk == again.pk
    assert Message.objects.count() == 1


def test_same_external_id_in_another_inbox_is_another_message(webchat_inbox):
    other = InboxFactory(kind="webchat")
    message_ingest(inbox=webchat_inbox, inbound=inbound(external_id="evt-1"))
    message_ingest(inbox=other, inbound=inbound(external_id="evt-1"))
    assert Message.objects.count() == 2


def test_message_to_resolved_conversation_reopens_it_by_default(webchat_inbox):
    conversation = message_ingest(inbox=webchat_inbox, inbound=inbound("one")).conversation
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.RESOLVED)
    again = message_ingest(inbox=webchat_inbox, inbound=inbound("two"))
    assert again.conversation_id == conversation.pk
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN


def test_message_to_resolved_conversation_opens_new_one_when_inbox_says_so(webchat_inbox):
    webchat_inbox.on_resolved_reply = "new"
    webchat_inbox.save()
    conversation = message_ingest(inbox=webchat_inbox, inbound=inbound("one")).conversation
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.RESOLVED)
    again = message_ingest(inbox=webchat_inbox, inbound=inbound("two"))
    assert again.conversation_id != conversation.pk
    assert again.conversation.customer_id == conversation.customer_id
    assert Conversation.objects.get(pk=conversation.pk).status == Conversation.Status.RESOLVED


def test_verified_link_attaches_new_visitor_to_existing_customer(webchat_inbox):
    known = message_ingest(
        inbox=webchat_inbox, inbound=inbound(kind="email", address="ada@example.com")
    ).conversation.customer
    link = IdentityClaim(kind="email", address="ada@example.com", verified=True)
    message = message_ingest(inbox=webchat_inbox, inbound=inbound(address="visitor-9", verified_links=(link,)))
    assert message.conversation.customer_id == known.pk


def test_unverified_claim_never_attaches_but_is_flagged_as_possible_match(webchat_inbox):
    known = message_ingest(
        inbox=webchat_inbox, inbound=inbound(kind="email", address="ada@example.com")
    ).conversation.customer
    message = message_ingest(
        inbox=webchat_inbox, inbound=inbound(address="visitor-9", claims={"unverified_email": "ada@example.com"})
    )
    stranger = message.conversation.customer
    assert stranger.pk != known.pk
    assert stranger.attributes["unverified_email"] == "ada@example.com"
    assert stranger.attributes["possible_match_customer_id"] == known.pk


def test_raw_event_that_cannot_be_parsed_is_kept_failed_and_replayable(fake_inbox):
    event = inbound_event_record(
        inbox=fake_inbox, external_id="e1", raw=b'{"id": "e1", "text": "no sender"}', content_type="application/json"
    )
    assert inbound_event_process(event=event) == []
    event.refresh_from_db()
    assert event.state == InboundEvent.State.FAILED
    assert "from" in event.error
    assert bytes(event.raw) == b'{"id": "e1", "text": "no sender"}'
    assert Message.objects.count() == 0

    # After a fix (here: the payload corrected by an admin), replay processes it.
    InboundEvent.objects.filter(pk=event.pk).update(raw=fake_payload(id="e1"))
    event.refresh_from_db()
    assert len(inbound_event_process(event=event)) == 1
    event.refresh_from_db()
    assert event.state == InboundEvent.State.PROCESSED
    assert event.attempts == 2


def test_replayed_raw_event_is_recorded_once(fake_inbox):
    body = fake_payload(id="abc")
    first = inbound_event_receive(inbox=fake_inbox, external_id="abc", raw=body, content_type="application/json")
    second = inbound_event_receive(inbox=fake_inbox, external_id="abc", raw=body, content_type="application/json")
    assert [m.pk for m in first] == [m.pk for m in second]
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_one_event_yield_one_message(fake_inbox):
    body = fake_payload(id="burst", **{"from": "burst@example.com"})

    def deliver():
        inbound_event_receive(inbox=fake_inbox, external_id="burst", raw=body, content_type="application/json")

    run_concurrently(*[deliver] * 8)
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_distinct_messages_from_a_new_customer_share_one_conversation(fake_inbox):
    def deliver(i):
        body = fake_payload(id=f"m{i}", **{"from": "new@example.com"})
        inbound_event_receive(inbox=fake_inbox, external_id=f"m{i}", raw=body, content_type="application/json")

    run_concurrently(*[functools.partial(deliver, i) for i in range(6)])
    assert Message.objects.count() == 6
    assert Customer.objects.count() == 1
    assert ContactIdentity.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_agent_reply_is_sent_through_the_connector_after_commit(fake_inbox, agent, django_capture_on_commit_callbacks):
    conversation = message_ingest(
        inbox=fake_inbox, inbound=inbound(kind="email", address="ada@example.com")
    ).conversation
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        reply = message_reply(conversation=conversation, author=agent, text="On its way!")
    assert fake.outbox == []  # nothing leaves before the reply is committed
    for callback in callbacks:
        callback()
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT
    assert reply.external_id == f"fake-{reply.pk}"
    assert [(o.to.address, o.text) for o in fake.outbox] == [("ada@example.com", "On its way!")]


def test_permanent_send_failure_marks_message_failed_with_reason(fake_inbox, agent, django_capture_on_commit_callbacks):
    fake_inbox.settings = {"fake_fail": "permanent"}
    fake_inbox.save()
    conversation = ConversationFactory(inbox=fake_inbox)
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=conversation, author=agent, text="hello?")
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    assert "refused" in reply.status_detail
    assert fake.outbox == []


def test_delivery_status_moves_forward_only(fake_inbox, agent, django_capture_on_commit_callbacks):
    conversation = ConversationFactory(inbox=fake_inbox)
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=conversation, author=agent, text="hi")
    reply.refresh_from_db()
    message_status_update(inbox=fake_inbox, update=StatusUpdate(reply.external_id, "read"))
    message_status_update(inbox=fake_inbox, update=StatusUpdate(reply.external_id, "delivered"))
    reply.refresh_from_db()
    assert reply.status == Message.Status.READ


def test_event_payload_is_kept_byte_for_byte(fake_inbox):
    body = json.dumps({"id": "x", "from": "a@b.c", "text": "héllo"}, ensure_ascii=False).encode()
    inbound_event_receive(inbox=fake_inbox, external_id="x", raw=body, content_type="application/json")
    assert bytes(InboundEvent.objects.get().raw) == body
    assert Message.objects.get().text == "héllo"


def test_reply_on_a_stale_conversation_does_not_undo_a_reopen(fake_inbox, agent, django_capture_on_commit_callbacks):
    conversation = message_ingest(
        inbox=fake_inbox, inbound=inbound(kind="email", address="ada@example.com")
    ).conversation
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.RESOLVED)
    stale = Conversation.objects.get(pk=conversation.pk)  # an agent's page loaded it while resolved
    message_ingest(inbox=fake_inbox, inbound=inbound("I'm back", kind="email", address="ada@example.com"))
    with django_capture_on_commit_callbacks(execute=True):
        message_reply(conversation=stale, author=agent, text="Welcome back")
    fresh = Conversation.objects.get(pk=conversation.pk)
    assert fresh.status == Conversation.Status.OPEN
    assert fresh.last_message_preview == "Welcome back"


@pytest.mark.django_db(transaction=True)
def test_concurrent_receipts_never_move_status_backwards(fake_inbox, agent):
    for attempt in range(5):
        conversation = ConversationFactory(inbox=fake_inbox)
        reply = message_reply(conversation=conversation, author=agent, text=f"hi {attempt}")
        reply.refresh_from_db()
        run_concurrently(
            *[
                functools.partial(message_status_update, inbox=fake_inbox, update=StatusUpdate(reply.external_id, s))
                for s in ("read", "delivered")
            ]
        )
        assert Message.objects.get(pk=reply.pk).status == Message.Status.READ


@pytest.mark.django_db(transaction=True)
def test_reply_is_sent_even_when_the_realtime_layer_is_down(fake_inbox, agent, settings):
    from channels.layers import channel_layers

    # A Redis nobody listens on: every publish fails, as in an outage.
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    channel_layers.backends.clear()
    try:
        conversation = ConversationFactory(inbox=fake_inbox)
        reply = message_reply(conversation=conversation, author=agent, text="still goes out")
    finally:
        channel_layers.backends.clear()
    assert [o.text for o in fake.outbox] == ["still goes out"]
    assert Message.objects.get(pk=reply.pk).status == Message.Status.SENT


def test_replies_whose_task_was_lost_are_sent_by_the_sweep(fake_inbox, agent):
    conversation = ConversationFactory(inbox=fake_inbox)
    lost = Message.objects.create(
        conversation=conversation,
        inbox=fake_inbox,
        identity=conversation.identity,
        direction="out",
        sender_type="agent",
        author=agent,
        text="lost in the broker",
        status="queued",
        sent_at=timezone.now(),
    )
    Message.objects.filter(pk=lost.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert messages_requeue_stale(older_than=timedelta(minutes=2)) == [lost.pk]
    assert [o.text for o in fake.outbox] == ["lost in the broker"]
    assert Message.objects.get(pk=lost.pk).status == Message.Status.SENT


def test_events_whose_processing_was_lost_are_processed_by_the_sweep(fake_inbox):
    event = inbound_event_record(
        inbox=fake_inbox, external_id="lost", raw=fake_payload(id="lost"), content_type="application/json"
    )
    InboundEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=10))
    assert inbound_events_retry_stale(older_than=timedelta(minutes=5)) == [event.pk]
    assert InboundEvent.objects.get(pk=event.pk).state == InboundEvent.State.PROCESSED
    assert Message.objects.count() == 1


def test_html_from_outside_is_sanitized_on_the_way_in(fake_inbox):
    html = (
        '<p onclick="steal()">Hi <script>alert(1)</script><img src="https://tracker.example/p.gif">'
        '<a href="javascript:alert(1)">x</a><a href="https://ok.example">ok</a></p>'
    )
    message = message_ingest(inbox=fake_inbox, inbound=inbound(kind="email", address="a@b.c", html=html))
    stored = Message.objects.get(pk=message.pk).html
    assert "script" not in stored and "onclick" not in stored and "tracker.example" not in stored
    assert "javascript:" not in stored
    assert 'href="https://ok.example"' in stored and "Hi" in stored
