"""The production path for replies: a real Celery worker process, Redis as broker and channel layer."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from conversations.models import Conversation, Message
from conversations.services import message_reply
from inbox.celery import app as celery_app
from tests.factories import InboxFactory, UserFactory
from tests.helpers import database_url
from tests.sockets import hello, receive_json, say, widget_socket

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL,
        reason="WORKER TEST SKIPPED: needs REDIS_URL (the embedded default has no broker); "
        "`make test` runs it on Redis",
    ),
]


@pytest.fixture
def worker():
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "inbox",
            "worker",
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    celery_app.conf.task_always_eager = False
    try:
        yield process
    finally:
        celery_app.conf.task_always_eager = True
        process.terminate()
        process.wait(timeout=20)


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
