"""IMAP polling against a real IMAP server (Debian's dovecot, started by the fixture)."""

import pytest
from imapclient.exceptions import LoginError

from conversations.models import InboundEvent, Message
from inbox.connectors.email.imap import imap_poll
from inbox.connectors.email.tasks import imap_poll_all
from inbox.models import ImapCursor, Inbox
from tests.factories import InboxFactory, UserFactory

pytestmark = pytest.mark.django_db


def mail(n: int, *, sender="Ada <ada@example.com>", subject=None) -> bytes:
    return (
        f"From: {sender}\r\nTo: support@shop.example\r\nSubject: {subject or f'Question {n}'}\r\n"
        f"Message-ID: <q{n}@example.com>\r\nDate: Mon, 23 Nov 2026 10:0{n % 10}:00 +0000\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nQuestion number {n}\r\n"
    ).encode()


@pytest.fixture
def mailbox_inbox(imap_server):
    return InboxFactory(
        kind="email", settings={"address": "support@shop.example"}, credentials={"imap": imap_server.settings}
    )


@pytest.fixture
def poll(django_capture_on_commit_callbacks):
    def run(inbox):
        with django_capture_on_commit_callbacks(execute=True):
            return imap_poll(inbox)

    return run


def texts():
    return sorted(Message.objects.values_list("text", flat=True))


def test_mail_delivered_to_the_mailbox_becomes_a_message_and_stays_there(imap_server, mailbox_inbox, poll):
    imap_server.deliver(mail(1))
    result = poll(mailbox_inbox)
    assert (result.fetched, result.stored) == (1, 1)
    message = Message.objects.select_related("identity", "conversation").get()
    assert message.identity.address == "ada@example.com"
    assert message.conversation.subject == "Question 1" and message.text == "Question number 1"
    with imap_server.client() as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search(["UNSEEN"]) == [1]  # still there, not even marked read


def test_every_mail_arrives_exactly_once_after_the_poller_was_down(
    imap_server,
    mailbox_inbox,
    django_capture_on_commit_callbacks,
):
    imap_server.deliver(mail(1))
    with django_capture_on_commit_callbacks(execute=True):
        imap_poll_all.delay()  # what Celery beat runs every minute
    assert texts() == ["Question number 1"]

    # The poller is down while mail keeps arriving.
    for n in range(2, 7):
        imap_server.deliver(mail(n))
    with django_capture_on_commit_callbacks(execute=True):
        imap_poll_all.delay()
        imap_poll_all.delay()  # a second tick finds nothing new
    assert texts() == [f"Question number {n}" for n in range(1, 7)]
    assert ImapCursor.objects.get(inbox=mailbox_inbox).last_uid == 6

    imap_server.deliver(mail(7))
    with django_capture_on_commit_callbacks(execute=True):
        imap_poll_all.delay()
    assert Message.objects.count() == InboundEvent.objects.count() == 7


def test_a_changed_uidvalidity_neither_loses_nor_duplicates_mail(imap_server, mailbox_inbox, poll):
    mailbox_inbox.credentials["imap"]["folder"] = "Support"
    mailbox_inbox.save()
    for n in (1, 2):
        imap_server.deliver(mail(n), folder="Support")
    poll(mailbox_inbox)
    before = ImapCursor.objects.get(inbox=mailbox_inbox).uidvalidity

    # The mailbox is rebuilt (restored from a backup, migrated): same mail, new UIDs, new UIDVALIDITY,
    # and meanwhile a mail arrived.
    with imap_server.client() as client:
        client.delete_folder("Support")
    for n in (1, 2, 3):
        imap_server.deliver(mail(n), folder="Support")

    result = poll(mailbox_inbox)
    assert result.uidvalidity_changed and result.fetched == 3 and result.stored == 1
    assert texts() == ["Question number 1", "Question number 2", "Question number 3"]
    assert ImapCursor.objects.get(inbox=mailbox_inbox).uidvalidity != before


def test_mail_can_be_moved_to_a_folder_once_stored(imap_server, mailbox_inbox, poll):
    mailbox_inbox.credentials["imap"]["move_to"] = "Processed"
    mailbox_inbox.save()
    imap_server.deliver(mail(1))
    imap_server.deliver(mail(2))
    poll(mailbox_inbox)
    assert Message.objects.count() == 2
    with imap_server.client() as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert client.select_folder("Processed")[b"EXISTS"] == 2


def test_a_mail_that_cannot_be_read_does_not_stop_the_mailbox(imap_server, mailbox_inbox, poll):
    imap_server.deliver(b"Subject: who sent this?\r\nMessage-ID: <nofrom@x>\r\n\r\nno From header\r\n")
    imap_server.deliver(mail(2, subject="=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?="))
    poll(mailbox_inbox)
    assert Message.objects.get().conversation.subject == "こんにちは"
    failed = InboundEvent.objects.get(state=InboundEvent.State.FAILED)
    assert "sender" in failed.error and b"no From header" in bytes(failed.raw)


def test_the_same_mail_by_imap_and_by_webhook_is_one_message(client, imap_server, mailbox_inbox, poll):
    from tests.inbox.connectors.email.test_mail import _basic

    imap_server.deliver(mail(1))
    poll(mailbox_inbox)
    response = client.post(
        f"/hooks/email/{mailbox_inbox.public_token}/",
        data=mail(1),
        content_type="message/rfc822",
        headers={"Authorization": _basic(mailbox_inbox.secret)},
    )
    assert response.status_code == 200
    assert Message.objects.count() == InboundEvent.objects.count() == 1


def test_wrong_password_is_reported_where_admins_see_it(imap_server, mailbox_inbox):
    mailbox_inbox.credentials["imap"]["password"] = "wrong"
    mailbox_inbox.save()
    with pytest.raises(LoginError):
        imap_poll(mailbox_inbox)
    assert "LoginError" in ImapCursor.objects.get(inbox=mailbox_inbox).last_error


def test_a_mail_too_big_to_take_is_kept_as_its_headers_and_the_mailbox_goes_on(
    imap_server, mailbox_inbox, poll, settings
):
    settings.WEBHOOK_MAX_BODY_BYTES = 2000
    huge = mail(1).replace(b"Question number 1", b"x" * 5000)
    imap_server.deliver(huge)
    imap_server.deliver(mail(2))
    poll(mailbox_inbox)
    assert texts() == ["Question number 2"]
    failed = InboundEvent.objects.get(state=InboundEvent.State.FAILED)
    assert failed.external_id == "q1@example.com" and "over the 2000-byte limit" in failed.error
    assert b"Subject: Question 1" in bytes(failed.raw)
    assert ImapCursor.objects.get(inbox=mailbox_inbox).last_uid == 2


def test_a_mailbox_that_cannot_be_read_logs_one_line_says_why_and_backs_off(db, caplog, client):
    import socket

    from inbox.connectors.email.tasks import imap_poll_task

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    inbox = InboxFactory(
        kind="email",
        name="Support",
        credentials={"imap": {"host": "127.0.0.1", "port": port, "ssl": False, "username": "u", "password": "p"}},
    )
    with caplog.at_level("WARNING", logger="inbox.connectors.email.tasks"):
        imap_poll_task(inbox.pk)
        imap_poll_task(inbox.pk)  # the next minute's tick: still waiting, not tried again
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is None
    assert "next try in 120 s" in caplog.records[0].getMessage()
    assert ImapCursor.objects.get(inbox=inbox).last_error.startswith(f"Nothing answers at 127.0.0.1:{port}")

    client.force_login(UserFactory(is_staff=True))
    health = client.get("/settings/inboxes/").content.decode()
    assert f"Mailbox: Nothing answers at 127.0.0.1:{port}: check the mail server" in health
    assert "ConnectionRefusedError" in health.split("<summary>Details</summary>", 1)[1]  # a click away


def test_a_passing_check_ends_the_wait_so_the_mailbox_is_read_at_the_next_tick(db, caplog, admin_client, imap_server):
    import socket

    from inbox.connectors.email.tasks import imap_poll_task

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    inbox = InboxFactory(
        kind="email", credentials={"imap": {**imap_server.settings, "port": port}}, settings={"address": "a@x.org"}
    )
    imap_poll_task(inbox.pk)  # fails: nothing listens there; the mailbox now waits two minutes
    Inbox.objects.filter(pk=inbox.pk).update(credentials={"imap": imap_server.settings})  # the port put right
    assert "IMAP: OK." in admin_client.post(f"/settings/inboxes/{inbox.pk}/check/").content.decode()
    imap_poll_task(inbox.pk)  # the next tick reads it, not two minutes later
    cursor = ImapCursor.objects.get(inbox=inbox)
    assert cursor.last_error == "" and cursor.last_polled_at is not None
