"""Replies through a real SMTP server (aiosmtpd on localhost), and the customer's answers coming back."""

import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from conversations.models import Conversation, Message
from conversations.replies import message_reply
from tests.factories import InboxFactory, MembershipFactory
from tests.mailservers import SmtpServer, free_port
from tests.workers import celery_worker, needs_broker

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_inbox(agent):
    agent.first_name, agent.last_name = "Sam", "Agent"
    agent.save()
    inbox = InboxFactory(
        kind="email", name="Support", settings={"address": "support@shop.example", "reply_domain": "reply.shop.example"}
    )
    MembershipFactory(inbox=inbox, user=agent)
    return inbox


def ingest(inbox, raw: bytes):
    import sys

    real = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(raw))
    try:
        call_command(
            "email", "ingest", "--direct", "--inbox", str(inbox.pk), "-", stdout=io.StringIO(), stderr=io.StringIO()
        )
    finally:
        sys.stdin = real


FIRST = (
    b"From: Ada Lovelace <ada@example.com>\r\nTo: Support <support@shop.example>\r\nSubject: Broken engine\r\n"
    b"Message-ID: <ada-1@mail.example.com>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe difference engine stopped.\r\n"
)


def test_reply_arrives_with_threading_headers_and_the_answer_joins_the_conversation(
    smtp_server,
    email_inbox,
    agent,
    django_capture_on_commit_callbacks,
):
    ingest(email_inbox, FIRST)
    conversation = Conversation.objects.get()
    manual = SimpleUploadedFile("manual.pdf", b"%PDF-1.4 manual", content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(
            conversation=conversation, author=agent, text="Try the crank.\nThen call us.", files=[manual]
        )

    [sent] = smtp_server.wait_for(1)
    assert str(sent["From"]) == "Sam Agent <support@shop.example>"
    assert str(sent["To"]) == "Ada Lovelace <ada@example.com>"
    assert str(sent["Subject"]) == "Re: Broken engine"
    assert sent["In-Reply-To"] == "<ada-1@mail.example.com>"
    assert "<ada-1@mail.example.com>" in sent["References"]
    assert str(sent["Reply-To"]) == f"reply+{conversation.reply_token}@reply.shop.example"
    assert "Auto-Submitted" not in sent  # a person wrote it
    assert sent.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == "Try the crank.\nThen call us."
    assert "Try the crank." in sent.get_body(("html",)).get_content()
    [attached] = list(sent.iter_attachments())
    assert attached.get_filename() == "manual.pdf" and attached.get_content() == b"%PDF-1.4 manual"
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT and f"<{reply.external_id}>" == sent["Message-ID"]

    # Ada answers from her mail client: to the Reply-To, quoting our mail, with the threading headers.
    answer = (
        f"From: ada@example.com\r\nTo: {sent['Reply-To']}\r\nSubject: Re: Broken engine\r\n"
        f"Message-ID: <ada-2@mail.example.com>\r\nIn-Reply-To: {sent['Message-ID']}\r\n"
        f"References: <ada-1@mail.example.com> {sent['Message-ID']}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "It works now, thanks!\r\n\r\nOn Mon, 23 Nov 2026 at 10:00, Sam Agent wrote:\r\n> Try the crank.\r\n"
    ).encode()
    ingest(email_inbox, answer)
    assert Conversation.objects.count() == 1
    latest = conversation.messages.order_by("-id").first()
    assert latest.text == "It works now, thanks!" and "> Try the crank." in latest.full_text


def test_an_answer_that_lost_its_threading_headers_still_finds_its_conversation_by_token(
    smtp_server,
    email_inbox,
    agent,
    django_capture_on_commit_callbacks,
):
    ingest(email_inbox, FIRST)
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        message_reply(conversation=conversation, author=agent, text="Which model?")
    [sent] = smtp_server.wait_for(1)
    # A web mail client that keeps neither In-Reply-To nor References, and changes the subject.
    bare = (
        f"From: ada@example.com\r\nTo: {sent['Reply-To']}\r\nSubject: model number\r\n"
        "Message-ID: <ada-3@mail.example.com>\r\n\r\nNo. 2\r\n"
    ).encode()
    ingest(email_inbox, bare)
    assert Conversation.objects.count() == 1 and conversation.messages.count() == 3

    # The same token from someone else is no way into Ada's conversation.
    ingest(email_inbox, bare.replace(b"ada@example.com", b"eve@example.net").replace(b"ada-3", b"eve-1"))
    assert Conversation.objects.count() == 2 and conversation.messages.count() == 3


def test_smtp_refusal_in_process_fails_with_the_reason(
    smtp_server, email_inbox, agent, django_capture_on_commit_callbacks
):
    """The embedded default has no worker to wait in: a refused send is failed at once, with why."""
    ingest(email_inbox, FIRST)
    smtp_server.recorder.refuse_next = 1
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=Conversation.objects.get(), author=agent, text="hello")
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED and "451" in reply.status_detail


def wait_for_status(message, *, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.status in (Message.Status.SENT, Message.Status.FAILED):
            return message
        time.sleep(0.2)
    raise AssertionError(f"still {message.status} after {timeout}s")


# A worker retries quickly here: three tries in all, the first wait 0.3 s.
QUICK_RETRIES = {"SEND_MAX_RETRIES": "2", "SEND_RETRY_BACKOFF_SECONDS": "0.3"}


@needs_broker
@pytest.mark.django_db(transaction=True)
def test_a_busy_mail_server_is_retried_until_it_takes_the_reply(email_inbox, agent):
    ingest(email_inbox, FIRST)
    server = SmtpServer().start()
    server.recorder.refuse_next = 2  # "451 try again later", twice
    try:
        with celery_worker(EMAIL_URL=server.url, **QUICK_RETRIES):
            reply = message_reply(conversation=Conversation.objects.get(), author=agent, text="Third time lucky")
            assert wait_for_status(reply).status == Message.Status.SENT
    finally:
        server.stop()
    assert server.recorder.attempts == 3 and len(server.recorder.received) == 1


@needs_broker
@pytest.mark.django_db(transaction=True)
def test_a_mail_server_outage_is_retried_then_shown_as_failed_not_lost(email_inbox, agent):
    ingest(email_inbox, FIRST)
    nobody_listens = free_port()
    with celery_worker(EMAIL_URL=f"smtp://127.0.0.1:{nobody_listens}", **QUICK_RETRIES):
        reply = message_reply(conversation=Conversation.objects.get(), author=agent, text="Anyone there?")
        started = time.monotonic()
        assert wait_for_status(reply).status == Message.Status.FAILED
    assert "The mail server refused the connection" in reply.status_detail
    assert time.monotonic() - started >= 0.3 + 0.6  # it waited between tries, then gave up
    assert reply.text == "Anyone there?"  # kept, with the reason, for the agent to see and resend
