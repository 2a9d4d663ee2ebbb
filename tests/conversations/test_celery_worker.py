"""The production path for replies: a real Celery worker process, Redis as broker and channel layer."""

import time

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message
from conversations.replies import message_reply
from tests.factories import InboxFactory, UserFactory
from tests.sockets import hello, receive_json, say, widget_socket
from tests.workers import celery_worker, needs_broker

pytestmark = [pytest.mark.django_db(transaction=True), needs_broker]


@pytest.fixture
def worker():
    with celery_worker() as process:
        yield process


async def test_reply_travels_through_the_broker_to_a_worker_and_on_to_the_visitor(worker):
    inbox = await sync_to_async(InboxFactory)(kind="webchat")
    agent = await sync_to_async(UserFactory)()
    visitor = await widget_socket(inbox.public_token)
    await hello(visitor)
    ack = await say(visitor, "anyone?", "w1")
    conversation = await sync_to_async(Conversation.objects.get)(messages__pk=ack["message_id"])

    reply = await sync_to_async(message_reply)(conversation=conversation, author=agent, text="Yes, from the worker")

    pushed = await receive_json(visitor, timeout=30)  # the worker's first start takes a few seconds
    assert pushed["message"]["text"] == "Yes, from the worker"
    deadline = time.monotonic() + 10
    while (status := (await sync_to_async(Message.objects.get)(pk=reply.pk)).status) in {
        "queued",
        "sending",
    } and time.monotonic() < deadline:
        await sync_to_async(time.sleep)(0.1)
    assert status in {"sent", "delivered", "read"}
    assert worker.poll() is None
    await visitor.disconnect()
