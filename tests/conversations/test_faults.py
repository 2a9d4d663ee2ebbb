"""Faults survived (issue 19): a database that drops out while an event is processed, a provider's
resend of an event whose task was lost, a reply whose outcome is unknown, a cache that is down."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.delivery import OUTCOME_UNKNOWN, message_deliver, messages_requeue_stale
from conversations.intake import inbound_event_process, inbound_event_record, inbound_events_retry_stale
from conversations.models import InboundEvent, Message
from inbox.connectors import fake
from inbox.connectors.contract import SendError
from tests.factories import ConversationFactory, MessageFactory
from tests.helpers import fake_payload, post_fake_webhook


def test_a_database_that_drops_out_leaves_the_event_to_be_retried_not_failed(fake_inbox):
    from django.db import OperationalError

    fake_inbox.settings = {"fake_database_down": True}
    fake_inbox.save()
    event = inbound_event_record(
        inbox=fake_inbox, external_id="e1", raw=fake_payload(id="e1"), content_type="application/json"
    )
    with pytest.raises(OperationalError):
        inbound_event_process(event=event)
    assert InboundEvent.objects.get(pk=event.pk).state == InboundEvent.State.RECEIVED  # not "failed"
    # The database is back: the sweep (seconds later) processes it.
    fake_inbox.settings = {}
    fake_inbox.save()
    InboundEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(seconds=40))
    assert inbound_events_retry_stale(older_than=timedelta(seconds=30)) == [event.pk]
    assert InboundEvent.objects.get(pk=event.pk).state == InboundEvent.State.PROCESSED
    assert Message.objects.count() == 1


def test_a_providers_resend_of_an_event_whose_task_was_lost_processes_it_now(client, fake_inbox):
    body = fake_payload(id="m1", text="Hello?")
    inbound_event_record(inbox=fake_inbox, external_id="m1", raw=body, content_type="application/json")
    assert not Message.objects.exists()  # stored, but its task never ran
    assert post_fake_webhook(client, fake_inbox, body).status_code == 200
    assert Message.objects.get().text == "Hello?"
    assert post_fake_webhook(client, fake_inbox, body).status_code == 200  # and once more: nothing twice
    assert Message.objects.count() == 1


def _reply(conversation, agent, status="queued"):
    """An agent's reply as the composer stores it: no provider id until it is sent."""
    return MessageFactory(
        conversation=conversation, direction="out", sender_type="agent", author=agent, status=status, external_id=None
    )


def test_a_failed_try_is_put_back_dated_now_so_the_sweep_does_not_send_it_too(fake_inbox, agent):
    fake_inbox.settings = {"fake_fail": "temporary"}
    fake_inbox.save()
    reply = _reply(ConversationFactory(inbox=fake_inbox), agent)
    Message.objects.filter(pk=reply.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    with pytest.raises(SendError):
        message_deliver(message_id=reply.pk)
    put_back = Message.objects.get(pk=reply.pk)
    assert put_back.status == "queued" and put_back.updated_at > timezone.now() - timedelta(seconds=5)
    assert messages_requeue_stale(older_than=timedelta(seconds=60)) == []  # left to its retry


def test_a_reply_interrupted_while_sending_is_never_sent_blindly_again(fake_inbox, agent):
    reply = _reply(ConversationFactory(inbox=fake_inbox), agent, status="sending")
    Message.objects.filter(pk=reply.pk).update(updated_at=timezone.now() - timedelta(minutes=11))
    assert messages_requeue_stale(older_than=timedelta(seconds=60)) == []
    interrupted = Message.objects.get(pk=reply.pk)
    assert interrupted.status == "failed" and interrupted.status_detail.startswith(OUTCOME_UNKNOWN)
    assert fake.outbox == []  # an agent decides (Retry)


def test_a_twilio_answer_lost_after_it_took_the_text_is_not_sent_twice(twilio, agent, settings):
    from tests.factories import InboxFactory, MembershipFactory

    settings.TWILIO_SEND_TIMEOUT_SECONDS = 0.5
    twilio.slow_answers = 1.5
    inbox = InboxFactory(
        kind="sms",
        settings={"from_number": "+15017122661"},
        credentials={"account_sid": twilio.account_sid, "auth_token": twilio.auth_token},
    )
    MembershipFactory(inbox=inbox, user=agent)
    conversation = ConversationFactory(inbox=inbox, identity__kind="phone", identity__address="+14155550123")
    reply = _reply(conversation, agent)
    with pytest.raises(SendError) as refused:
        message_deliver(message_id=reply.pk)
    assert not refused.value.retryable and "may or may not have gone out" in str(refused.value)
    assert len(twilio.requests) == 1


def test_signed_in_pages_answer_while_the_cache_is_down(agent_client, fake_inbox, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    conversation = ConversationFactory(inbox=fake_inbox)
    assert agent_client.get(reverse("workspace:conversation_list")).status_code == 200
    assert agent_client.get(reverse("workspace:conversation_detail", args=[conversation.pk])).status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_a_rerun_after_a_crash_announces_the_message_again():
    from asgiref.sync import sync_to_async

    from conversations.ingest import message_ingest
    from tests.factories import InboxFactory, MembershipFactory
    from tests.helpers import inbound
    from tests.sockets import agent_socket, receive_until, session_cookie

    inbox = await sync_to_async(InboxFactory)(kind="webchat")
    member = await sync_to_async(MembershipFactory)(inbox=inbox)
    ws, ok = await agent_socket(cookie=await sync_to_async(session_cookie)(member.user))
    assert ok
    first = inbound("Is my parcel lost?", external_id="visitor-1:c1")
    message = await sync_to_async(message_ingest)(inbox=inbox, inbound=first)
    await receive_until(ws, f'id="msg-{message.pk}"')
    # The process died after the commit and before announcing and marking the event: the re-run
    # finds the message and says it again.
    again = await sync_to_async(message_ingest)(inbox=inbox, inbound=first)
    assert again.pk == message.pk
    await receive_until(ws, f'id="msg-{message.pk}"')
    await ws.disconnect()
