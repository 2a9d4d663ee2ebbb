"""Email in (files, standard input, the raw-MIME webhook) and out, over real-world mail."""

import base64
import io

import pytest
from django.core import mail
from django.core.management import call_command

from conversations.models import Attachment, Conversation, InboundEvent, Message
from conversations.replies import message_reply
from inbox.connectors.email.parsing import parse_mail
from inbox.management.commands.demo import DEMO_MAIL
from tests.factories import InboxFactory, MembershipFactory
from tests.helpers import SHARED

pytestmark = pytest.mark.django_db

CORPUS = SHARED / "corpus" / "email"
CORPUS_FILES = sorted(CORPUS.glob("*/*.eml"))


@pytest.fixture
def email_inbox(agent):
    inbox = InboxFactory(kind="email", name="Support", settings={"address": "support@shop.example"})
    MembershipFactory(inbox=inbox, user=agent)
    return inbox


def ingest(inbox, *files, stdin=None):
    out = io.StringIO()
    if stdin is not None:
        import sys

        real = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
        try:
            call_command("email", "ingest", "--direct", "--inbox", str(inbox.pk), "-", stdout=out, stderr=io.StringIO())
        finally:
            sys.stdin = real
    else:
        call_command(
            "email", "ingest", "--direct", "--inbox", str(inbox.pk), *map(str, files), stdout=out, stderr=io.StringIO()
        )
    return out.getvalue()


def test_corpus_is_present():
    assert len(CORPUS_FILES) >= 20, f"expected the shared email corpus at {CORPUS}"


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_world_mail_becomes_a_readable_message(email_inbox, path):
    raw = path.read_bytes()
    parsed = parse_mail(raw)
    ingest(email_inbox, path)
    assert InboundEvent.objects.get().state == InboundEvent.State.PROCESSED
    message = Message.objects.select_related("identity", "conversation").get()
    assert message.identity.kind == "email" and message.identity.address == parsed.from_address
    assert message.conversation.subject == parsed.subject[:300]
    readable = message.text.strip() or Attachment.objects.filter(message=message).exists()
    assert readable or parsed.is_bounce or parsed.is_auto_reply
    assert "\ufffd" not in message.text[:200] or parsed.notes  # repairs are said, never silent


def test_misdeclared_and_broken_mail_is_repaired():
    chinese = parse_mail((CORPUS / "mail-parser" / "mail_test_12.eml").read_bytes())
    assert chinese.text.startswith("你好！我公司可代开")
    broken_boundary = parse_mail((CORPUS / "mail-parser" / "mail_malformed_3.eml").read_bytes())
    assert "Problemas para visualizar" in broken_boundary.text
    bounce = parse_mail((CORPUS / "mail-parser" / "mail_malformed_2.eml").read_bytes())
    assert bounce.is_bounce


def test_same_mail_twice_is_one_message(email_inbox):
    path = CORPUS / "django-helpdesk" / "quoted_printable.eml"
    ingest(email_inbox, path, path)
    assert Message.objects.count() == 1 and InboundEvent.objects.count() == 1


def test_mail_without_message_id_gets_a_stable_one(email_inbox):
    raw = b"From: Ada <ada@example.com>\r\nSubject: no id\r\n\r\nHello\r\n"
    ingest(email_inbox, stdin=raw)
    ingest(email_inbox, stdin=raw)
    message = Message.objects.get()
    assert message.external_id.startswith("derived-") and message.text == "Hello"


def test_standard_input_is_ingested_like_a_file(email_inbox):
    raw = (CORPUS / "django-helpdesk" / "all-special-chars.eml").read_bytes()
    assert "message" in ingest(email_inbox, stdin=raw)
    assert Message.objects.get().text.startswith("íářčšáíéřášč")


def test_attachments_are_stored(email_inbox):
    ingest(email_inbox, CORPUS / "django-helpdesk" / "blank-body-with-attachment.eml")
    attachment = Attachment.objects.get()
    assert attachment.size > 0 and attachment.filename
    assert attachment.file.read()


def test_mail_that_cannot_be_processed_is_kept_and_replayed(email_inbox):
    ingest(email_inbox, stdin=b"Subject: who sent this?\r\n\r\nno From header\r\n")
    event = InboundEvent.objects.get()
    assert event.state == InboundEvent.State.FAILED and "sender" in event.error
    InboundEvent.objects.filter(pk=event.pk).update(raw=b"From: a@b.example\r\nSubject: fixed\r\n\r\nhi\r\n")
    out = io.StringIO()
    call_command("email", "replay", stdout=out)
    assert "processed" in out.getvalue()
    assert Message.objects.get().text == "hi"


def _basic(password):
    return "Basic " + base64.b64encode(f"inbox:{password}".encode()).decode()


def test_raw_mime_webhook_takes_mail_with_the_inbox_secret(client, email_inbox, django_capture_on_commit_callbacks):
    raw = (CORPUS / "django-helpdesk" / "quoted_printable.eml").read_bytes()
    url = f"/hooks/email/{email_inbox.public_token}/"
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(url, data=raw, content_type="message/rfc822", headers={"Authorization": _basic("x")})
        anonymous = client.post(url, data=raw, content_type="message/rfc822")
        assert refused.status_code == anonymous.status_code == 403
        assert InboundEvent.objects.count() == 0
        accepted = client.post(
            url, data=raw, content_type="message/rfc822", headers={"Authorization": _basic(email_inbox.secret)}
        )
    assert accepted.status_code == 200
    assert Message.objects.get().text.startswith("Tohle je test")


def test_agent_reply_goes_out_by_email_with_a_reply_subject(email_inbox, agent, django_capture_on_commit_callbacks):
    agent.first_name, agent.last_name = "Sam", "Agent"
    agent.save()
    ingest(email_inbox, CORPUS / "django-helpdesk" / "quoted_printable.eml")
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=conversation, author=agent, text="Děkujeme!")
    sent = mail.outbox[-1]
    assert sent.to == ["Tim hobbs <tim.thelion@gmail.com>"]
    assert sent.from_email == "Sam Agent <support@shop.example>"
    assert sent.subject == "Re: Český test"
    assert sent.body == "Děkujeme!"
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT and reply.external_id == sent.extra_headers["Message-ID"].strip("<>")


def test_reply_from_an_inbox_without_address_fails_with_the_reason(agent, django_capture_on_commit_callbacks):
    inbox = InboxFactory(kind="email", settings={})
    ingest(inbox, CORPUS / "django-helpdesk" / "quoted_printable.eml")
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=Conversation.objects.get(), author=agent, text="hello")
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED and "address" in reply.status_detail


def _mail(sender, subject, body, message_id, *, in_reply_to="", references=""):
    headers = f"From: {sender}\r\nTo: support@shop.example\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n"
    if in_reply_to:
        headers += f"In-Reply-To: <{in_reply_to}>\r\n"
    if references:
        headers += f"References: {references}\r\n"
    return (headers + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()


def test_email_threads_by_reference_within_the_same_customer_only(
    email_inbox, agent, django_capture_on_commit_callbacks
):
    ingest(email_inbox, stdin=_mail("Ada <ada@example.com>", "Refund", "Where is my refund?", "ada-1@example.com"))
    ada_conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        message_reply(conversation=ada_conversation, author=agent, text="On its way.")
    ours = mail.outbox[-1].extra_headers
    assert ours["In-Reply-To"] == "<ada-1@example.com>" and "<ada-1@example.com>" in ours["References"]
    our_id = ours["Message-ID"].strip("<>")

    # Ada answers our reply, as her mail client does: same conversation.
    ingest(
        email_inbox,
        stdin=_mail(
            "ada@example.com",
            "Re: Refund",
            "Thanks!",
            "ada-2@example.com",
            in_reply_to=our_id,
            references=f"<ada-1@example.com> <{our_id}>",
        ),
    )
    assert Conversation.objects.count() == 1
    assert list(ada_conversation.messages.order_by("id").values_list("text", flat=True)) == [
        "Where is my refund?",
        "On its way.",
        "Thanks!",
    ]

    # A stranger replying with Ada's thread in References starts a conversation of their own.
    ingest(
        email_inbox,
        stdin=_mail(
            "eve@example.net",
            "Re: Refund",
            "me too",
            "eve-1@example.net",
            in_reply_to=our_id,
            references=f"<ada-1@example.com> <{our_id}>",
        ),
    )
    eve = Conversation.objects.exclude(pk=ada_conversation.pk).get()
    assert eve.customer_id != ada_conversation.customer_id
    assert ada_conversation.messages.count() == 3

    # A new mail from Ada that answers nothing is a new thread: a new conversation.
    ingest(email_inbox, stdin=_mail("ada@example.com", "Another question", "Do you ship to Mars?", "ada-3@example.com"))
    assert Conversation.objects.filter(customer_id=ada_conversation.customer_id).count() == 2


BOUNCE = (
    b"From: Mail Delivery System <MAILER-DAEMON@mx.shop.example>\r\nTo: support@shop.example\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-1@mx.shop.example>\r\n"
    b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
    b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
    b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.shop.example\r\n\r\n"
    b"Final-Recipient: rfc822; ada@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--B--\r\n"
)


def test_permanent_bounce_is_labelled_and_marks_the_address_undeliverable(email_inbox, agent_client):
    ingest(email_inbox, stdin=_mail("Ada <ada@example.com>", "Hi", "hello", "ada-1@example.com"))
    ingest(email_inbox, stdin=BOUNCE)
    bounce = Message.objects.get(external_id="bounce-1@mx.shop.example")
    assert bounce.automatic == Message.Automatic.BOUNCE
    ada = Conversation.objects.get(customer__identities__address="ada@example.com")
    html = agent_client.get(f"/conversations/{ada.pk}/").content.decode()
    assert "bounced: 5.1.1" in html


def test_transient_bounce_marks_nothing(email_inbox):
    ingest(email_inbox, stdin=_mail("Ada <ada@example.com>", "Hi", "hello", "ada-1@example.com"))
    ingest(email_inbox, CORPUS / "mail-parser" / "mail_malformed_2.eml")  # 4.2.2: mailbox full
    assert Message.objects.filter(automatic="bounce").count() == 1
    from customers.models import ContactIdentity

    assert not ContactIdentity.objects.exclude(undeliverable_reason="").exists()


def test_auto_reply_is_labelled_and_does_not_reopen_a_resolved_conversation(
    email_inbox, agent, django_capture_on_commit_callbacks
):
    ingest(email_inbox, stdin=_mail("Ada <ada@example.com>", "Hi", "hello", "ada-1@example.com"))
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        message_reply(conversation=conversation, author=agent, text="Solved!")
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.RESOLVED)
    our_id = mail.outbox[-1].extra_headers["Message-ID"].strip("<>")
    out_of_office = _mail("ada@example.com", "Out of office", "I am away.", "ooo-1@example.com", in_reply_to=our_id)
    ingest(email_inbox, stdin=out_of_office.replace(b"Subject:", b"Auto-Submitted: auto-replied\r\nSubject:", 1))
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED
    assert Message.objects.get(external_id="ooo-1@example.com").automatic == Message.Automatic.AUTO_REPLY
    assert len(mail.outbox) == 1  # nothing answered it


def test_reply_to_a_resolved_conversation_reopens_it_within_the_window_else_starts_a_linked_one(email_inbox):
    from datetime import timedelta

    from django.utils import timezone

    email_inbox.reopen_within_days = 7
    email_inbox.save()
    ingest(email_inbox, stdin=_mail("ada@example.com", "Refund", "Where is it?", "ada-1@example.com"))
    first = Conversation.objects.get()
    Conversation.objects.filter(pk=first.pk).update(status=Conversation.Status.RESOLVED)
    ingest(
        email_inbox,
        stdin=_mail("ada@example.com", "Re: Refund", "Still waiting", "ada-2@x", in_reply_to="ada-1@example.com"),
    )
    first.refresh_from_db()
    assert first.status == Conversation.Status.OPEN and first.messages.count() == 2

    # Resolved, and quiet for longer than the window: a late reply starts a new conversation, linked.
    Conversation.objects.filter(pk=first.pk).update(
        status=Conversation.Status.RESOLVED, last_message_at=timezone.now() - timedelta(days=8)
    )
    ingest(email_inbox, stdin=_mail("ada@example.com", "Re: Refund", "Again?", "ada-3@x", in_reply_to="ada-2@x"))
    later = Conversation.objects.exclude(pk=first.pk).get()
    assert later.previous_id == first.pk and later.messages.get().text == "Again?"
    first.refresh_from_db()
    assert first.status == Conversation.Status.RESOLVED and first.messages.count() == 2


QUOTED_HTML_WITH_INLINE_IMAGE = (
    b"From: Ada <ada@example.com>\r\nTo: support@shop.example\r\nSubject: Screenshot\r\n"
    b"Message-ID: <shot-1@example.com>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/related; boundary="R"\r\n\r\n'
    b'--R\r\nContent-Type: multipart/alternative; boundary="A"\r\n\r\n'
    b"--A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"See the screenshot.\r\n\r\nOn Mon, 23 Nov 2026 at 10:00, Sam <support@shop.example> wrote:\r\n"
    b"> Can you send a screenshot?\r\n"
    b"--A\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b'<p>See the screenshot.</p><img src="cid:shot@ada" alt="screenshot"><img src="https://tracker.example/p.gif">'
    b"<blockquote>Can you send a screenshot?</blockquote>\r\n"
    b"--A--\r\n"
    b"--R\r\nContent-Type: image/png\r\nContent-ID: <shot@ada>\r\nContent-Disposition: inline; filename=shot.png\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
    b"--R--\r\n"
)


def test_quoted_text_is_hidden_one_click_away_and_inline_images_show_from_our_storage(email_inbox, agent_client):
    ingest(email_inbox, stdin=QUOTED_HTML_WITH_INLINE_IMAGE)
    message = Message.objects.get()
    assert message.text == "See the screenshot." and "> Can you send a screenshot?" in message.full_text
    image = Attachment.objects.get()
    assert image.content_id == "shot@ada"

    page = agent_client.get(f"/conversations/{message.conversation_id}/").content.decode()
    visible, _, hidden = page.partition('<details class="full-text">')
    assert "See the screenshot." in visible and "Can you send a screenshot?" not in visible
    assert "Can you send a screenshot?" in hidden  # one click away
    assert f'src="/attachments/{image.pk}/"' in hidden  # the inline image, in place, from us
    assert "tracker.example" not in page  # remote images never load

    served = agent_client.get(f"/attachments/{image.pk}/")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content).startswith(b"\x89PNG")


def test_the_original_mail_and_attachments_are_downloadable_by_members_only(email_inbox, agent_client, client):
    raw = (CORPUS / "django-helpdesk" / "blank-body-with-attachment.eml").read_bytes()
    ingest(email_inbox, stdin=raw)
    message = Message.objects.get()
    attachment = Attachment.objects.get()
    original = agent_client.get(f"/messages/{message.pk}/original.eml")
    assert original.status_code == 200 and original.content == raw
    assert original["Content-Type"] == "message/rfc822" and "attachment" in original["Content-Disposition"]
    assert agent_client.get(f"/attachments/{attachment.pk}/").status_code == 200

    from tests.factories import UserFactory

    # An agent of another inbox: a member of something, but not of this.
    elsewhere = UserFactory()
    MembershipFactory(inbox=InboxFactory(kind="email"), user=elsewhere)
    client.force_login(elsewhere)
    assert client.get(f"/messages/{message.pk}/original.eml").status_code == 404
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 404


def test_mail_from_our_own_address_is_labelled_and_never_reopens(email_inbox):
    ingest(email_inbox, stdin=_mail("Ada <ada@example.com>", "Hi", "hello", "ada-1@example.com"))
    Conversation.objects.update(status=Conversation.Status.RESOLVED)
    own = _mail("Support <support@shop.example>", "Re: Hi", "our own words", "own-1@shop.example")
    ingest(email_inbox, stdin=own.replace(b"To: support@shop.example", b"To: ada@example.com"))
    assert Message.objects.get(external_id="own-1@shop.example").automatic == Message.Automatic.OWN_ADDRESS
    assert not Conversation.objects.filter(status=Conversation.Status.OPEN).exists()


def test_automatic_mail_joins_a_resolved_thread_without_restarting_it(email_inbox):
    email_inbox.on_resolved_reply = "new"
    email_inbox.save()
    ingest(email_inbox, stdin=_mail("ada@example.com", "Hi", "hello", "ada-1@example.com"))
    Conversation.objects.update(status=Conversation.Status.RESOLVED)
    ooo = _mail("ada@example.com", "Out of office", "Away", "ooo-1@x", in_reply_to="ada-1@example.com")
    ingest(email_inbox, stdin=ooo.replace(b"Subject:", b"Auto-Submitted: auto-replied\r\nSubject:", 1))
    conversation = Conversation.objects.get()  # no new conversation
    assert conversation.status == Conversation.Status.RESOLVED and conversation.messages.count() == 2


def test_hostile_headers_and_filenames_do_not_stop_a_mail(email_inbox, agent, django_capture_on_commit_callbacks):
    raw = (
        b"From: Eve <eve@example.net>\r\nTo: support@shop.example\r\n"
        b"Subject: =?utf-8?q?Order_42=0D=0ABcc:_victim@example.org?=\r\n"
        b"Message-ID: <eve-1@example.net>\r\nDate: Fri, 31 Dec 9999 23:59:59 -0100\r\n"
        b"References: <ok@example.net> <bad=0Aid@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="M"\r\n\r\n'
        b"--M\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b'--M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="../../etc/passwd"\r\n'
        b"\r\n%PDF-1.4\r\n--M--\r\n"
    )
    ingest(email_inbox, stdin=raw)
    message = Message.objects.get()
    assert message.conversation.subject == "Order 42 Bcc: victim@example.org"  # one line, no new header
    attachment = Attachment.objects.get()
    assert attachment.filename == "../../etc/passwd" and ".." not in attachment.file.name
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=message.conversation, author=agent, text="Received.")
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT
    sent = mail.outbox[-1]
    assert sent.subject == "Re: Order 42 Bcc: victim@example.org" and "victim" not in " ".join(sent.recipients())


def test_gmail_attachments_with_a_content_id_are_listed_and_nameless_inline_images_kept(email_inbox, agent_client):
    raw = (
        b"From: Ada <ada@example.com>\r\nTo: support@shop.example\r\nSubject: Invoice\r\n"
        b"Message-ID: <inv-1@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="M"\r\n\r\n'
        b'--M\r\nContent-Type: multipart/related; boundary="R"\r\n\r\n'
        b'--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Invoice attached.</p><img src="cid:logo1">\r\n'
        b"--R\r\nContent-Type: image/png\r\nContent-ID: <logo1>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"iVBORw0KGgo=\r\n--R--\r\n"
        b'--M\r\nContent-Type: application/pdf; name="invoice.pdf"\r\nContent-ID: <f_abc123>\r\n'
        b'Content-Disposition: attachment; filename="invoice.pdf"\r\n\r\n%PDF-1.4\r\n--M--\r\n'
    )
    ingest(email_inbox, stdin=raw)
    message = Message.objects.get()
    logo, invoice = Attachment.objects.order_by("pk")
    assert logo.content_id == "logo1" and logo.filename == "attachment.png"
    assert invoice.content_id == ""  # not shown in place, so listed
    page = agent_client.get(f"/conversations/{message.conversation_id}/").content.decode()
    assert f'src="/attachments/{logo.pk}/"' in page
    assert f'href="/attachments/{invoice.pk}/"' in page and "invoice.pdf" in page


def test_a_reply_whose_id_a_stranger_took_first_is_still_sent_once(
    email_inbox, agent, django_capture_on_commit_callbacks
):
    from inbox.connectors.email.connector import our_message_id

    ingest(email_inbox, stdin=_mail("ada@example.com", "Hi", "hello", "ada-1@example.com"))
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        first = message_reply(conversation=conversation, author=agent, text="one")
    assert first.pk and mail.outbox[-1].extra_headers["Message-ID"] == f"<{our_message_id(first.pk, 'shop.example')}>"
    # Suppose someone had guessed the next id and sent it to us first (pks in a fresh table follow on;
    # the two mails ingested meanwhile are inbound messages, so the next reply is first.pk + 2).
    taken = our_message_id(first.pk + 2, "shop.example")
    ingest(email_inbox, stdin=_mail("eve@example.net", "Hi", "mine now", taken))
    with django_capture_on_commit_callbacks(execute=True):
        second = message_reply(conversation=conversation, author=agent, text="two")
    second.refresh_from_db()
    assert second.pk == first.pk + 2 and second.external_id is None  # the collision did happen
    assert second.status == Message.Status.SENT and len(mail.outbox) == 2


def test_automatic_mail_we_send_says_so(email_inbox):
    from django.utils import timezone

    from inbox.connectors.contract import IdentityClaim, OutboundMessage
    from inbox.connectors.email.connector import EmailConnector

    EmailConnector().send(
        OutboundMessage(
            message_id=1,
            conversation_id=1,
            inbox=email_inbox,
            to=IdentityClaim(kind="email", address="ada@example.com"),
            text="We got your mail and answer within a day.",
            html="",
            author_name="",
            sent_at=timezone.now(),
            automatic=True,
        )
    )
    assert mail.outbox[-1].extra_headers["Auto-Submitted"] == "auto-replied"


def test_an_oversized_attachment_is_left_out_and_the_agent_told(email_inbox, settings):
    settings.EMAIL_ATTACHMENT_MAX_BYTES = 10
    ingest(email_inbox, CORPUS / "django-helpdesk" / "blank-body-with-attachment.eml")
    message = Message.objects.get()
    assert not Attachment.objects.exists()
    assert "[Attachment left out:" in message.text and "limit" in message.text


def test_agent_attaches_files_to_an_email_reply_within_the_limit(
    email_inbox, agent_client, settings, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    ingest(email_inbox, stdin=_mail("ada@example.com", "Hi", "hello", "ada-1@example.com"))
    conversation = Conversation.objects.get()
    url = f"/conversations/{conversation.pk}/reply/"
    settings.REPLY_ATTACHMENTS_MAX_BYTES = 1024 * 1024
    too_big = SimpleUploadedFile("big.bin", b"x" * (1024 * 1024 + 1))
    refused = agent_client.post(url, {"text": "see attached", "files": [too_big]})
    assert refused.status_code == 422 and "Attachments may add up to 1 MB" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        sent = agent_client.post(url, {"text": "see attached", "files": [SimpleUploadedFile("a.txt", b"hello")]})
    assert sent.status_code == 200
    assert [(name, content) for name, content, _ in mail.outbox[-1].attachments] == [("a.txt", "hello")]


def test_the_command_line_stores_the_mail_itself_when_no_server_takes_it(email_inbox, settings):
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{closed.getsockname()[1]}"
    # The embedded default, where the command first tries the running server (on Redis it need not).
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    out = io.StringIO()
    sample = DEMO_MAIL / "return-request.eml"
    call_command("email", "ingest", "--inbox", str(email_inbox.pk), str(sample), stdout=out, stderr=io.StringIO())
    assert f"no server answers at {settings.PUBLIC_BASE_URL}, so it is stored here" in out.getvalue()
    assert Message.objects.get().text.startswith("Hi! The jacket from order #3099 is too small.")


def test_the_command_line_never_posts_mail_to_a_server_elsewhere(email_inbox, settings):
    # A public address on the embedded default is some other deployment: nothing is sent there.
    settings.PUBLIC_BASE_URL = "https://inbox.shop.example"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    out = io.StringIO()
    sample = DEMO_MAIL / "return-request.eml"
    call_command("email", "ingest", "--inbox", str(email_inbox.pk), str(sample), stdout=out, stderr=io.StringIO())
    assert "https://inbox.shop.example is not a server on this machine, so it is stored here" in out.getvalue()
    assert Message.objects.count() == 1
