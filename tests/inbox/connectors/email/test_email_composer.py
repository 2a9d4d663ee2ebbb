"""Email as agents write it: Reply all with Cc and Bcc, forwards, formatting, pasted images and
signatures, through the workspace's own form, to a real SMTP server (aiosmtpd on localhost)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conversations.models import Attachment, Conversation, Message
from inbox.models import AgentProfile, AuditEntry
from tests.factories import InboxFactory, MembershipFactory
from tests.inbox.connectors.email.test_smtp import ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_inbox(agent):
    agent.first_name, agent.last_name = "Sam", "Agent"
    agent.save()
    inbox = InboxFactory(kind="email", name="Support", settings={"address": "support@shop.example"})
    MembershipFactory(inbox=inbox, user=agent)
    return inbox


TO_MANY = (
    b"From: Ada Lovelace <ada@example.com>\r\n"
    b"To: Support <support@shop.example>, Charles Babbage <charles@example.com>\r\n"
    b"Cc: Mary <mary@example.org>, support@shop.example\r\n"
    b"Subject: The engine again\r\nMessage-ID: <ada-2@mail.example.com>\r\nDate: Tue, 24 Nov 2026 09:00:00 +0000\r\n"
    b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIt stopped once more.\r\n"
    b"--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=plan.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQgcGxhbg==\r\n--b1--\r\n"
)


def reply(client, conversation, **fields):
    return client.post(f"/conversations/{conversation.pk}/reply/", {"mode": "reply", **fields})


def test_a_mail_keeps_its_subject_and_who_else_it_was_to_and_reply_all_offers_them(agent_client, email_inbox):
    ingest(email_inbox, TO_MANY)
    message = Message.objects.get()
    assert message.subject == "The engine again"
    assert message.recipients == {
        "to": ["Support <support@shop.example>", "Charles Babbage <charles@example.com>"],
        "cc": ["Mary <mary@example.org>", "support@shop.example"],
    }
    page = agent_client.get(f"/conversations/{message.conversation_id}/").content.decode()
    assert '<strong class="subject" dir="auto">The engine again</strong>' in page
    # Reply all: everyone else, never our own address nor Ada, who is answered anyway.
    assert 'data-reply-all="Charles Babbage &lt;charles@example.com&gt;, Mary &lt;mary@example.org&gt;"' in page


def test_reply_all_with_cc_and_bcc_reaches_everyone_with_the_right_headers(
    smtp_server, agent_client, agent, email_inbox, django_capture_on_commit_callbacks
):
    ingest(email_inbox, TO_MANY)
    conversation = Conversation.objects.get()
    AgentProfile.objects.create(user=agent, signature="Sam, **Support**")
    email_inbox.settings["signature"] = "Shop Example · shop.example"
    email_inbox.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = reply(
            agent_client,
            conversation,
            text="Hello all,\n\nThe **new** part ships today:\n- a crank\n- a gear",
            cc="Charles Babbage <charles@example.com>, Mary <mary@example.org>",
            bcc="boss@shop.example",
            sign="1",
        )
    assert response.status_code == 200
    [sent] = smtp_server.wait_for(1)
    assert str(sent["To"]) == "Ada Lovelace <ada@example.com>"
    assert str(sent["Cc"]) == "Charles Babbage <charles@example.com>, Mary <mary@example.org>"
    assert "Bcc" not in sent  # a blind copy is in the envelope only
    assert sorted(smtp_server.recorder.envelopes[0]) == [
        "ada@example.com",
        "boss@shop.example",
        "charles@example.com",
        "mary@example.org",
    ]
    assert str(sent["Subject"]) == "Re: The engine again" and sent["In-Reply-To"] == "<ada-2@mail.example.com>"
    plain = sent.get_body(("plain",)).get_content()
    html = sent.get_body(("html",)).get_content()
    assert "The **new** part ships today" in plain and "-- \nSam, **Support**\nShop Example" in plain.replace("\r", "")
    assert "<strong>new</strong>" in html and "<li>a crank</li>" in html and "<strong>Support</strong>" in html
    stored = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert stored.recipients == {
        "cc": ["Charles Babbage <charles@example.com>", "Mary <mary@example.org>"],
        "bcc": ["boss@shop.example"],
    }
    page = agent_client.get(f"/conversations/{conversation.pk}/").content.decode()
    assert 'Cc: <span dir="auto">Charles Babbage &lt;charles@example.com&gt;</span>' in page
    assert 'Bcc: <span dir="auto">boss@shop.example</span>' in page


def test_a_bad_address_is_named_and_nothing_is_sent(smtp_server, agent_client, email_inbox):
    ingest(email_inbox, TO_MANY)
    conversation = Conversation.objects.get()
    response = reply(agent_client, conversation, text="Hi", cc="charles@example.com, not-an-address")
    assert response.status_code == 422
    assert "Cc: “not-an-address” is not an email address." in response.content.decode()
    assert 'value="charles@example.com, not-an-address"' in response.content.decode()  # what was typed stays
    assert Message.objects.filter(direction=Message.Direction.OUTBOUND).count() == 0


def test_forwarding_one_mail_sends_it_with_its_files_to_someone_else(
    smtp_server, agent_client, email_inbox, django_capture_on_commit_callbacks
):
    ingest(email_inbox, TO_MANY)
    original = Message.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(
            f"/conversations/{original.conversation_id}/reply/",
            {
                "mode": "forward",
                "to": "Workshop <workshop@vendor.example>",
                "forward_of": original.pk,
                "text": "Can you look at this one?",
            },
        )
    assert response.status_code == 200
    [sent] = smtp_server.wait_for(1)
    assert str(sent["To"]) == "Workshop <workshop@vendor.example>"
    assert smtp_server.recorder.envelopes[0] == ["workshop@vendor.example"]  # not to Ada
    assert str(sent["Subject"]) == "Fwd: The engine again" and "In-Reply-To" not in sent
    plain = sent.get_body(("plain",)).get_content()
    assert plain.startswith("Can you look at this one?")
    assert "---------- Forwarded message ----------" in plain and "From: Ada Lovelace <ada@example.com>" in plain
    assert "It stopped once more." in plain
    [attached] = list(sent.iter_attachments())
    assert attached.get_filename() == "plan.pdf" and attached.get_content() == b"%PDF-1.4 plan"
    forward = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert forward.recipients == {"to": ["Workshop <workshop@vendor.example>"], "forward": "message"}
    page = agent_client.get(f"/conversations/{original.conversation_id}/").content.decode()
    assert '<span class="tag">Forwarded</span>' in page


def test_forwarding_the_whole_conversation_carries_every_mail_but_no_private_note(
    smtp_server, agent_client, agent, email_inbox, django_capture_on_commit_callbacks
):
    from conversations.actions import note_add

    ingest(email_inbox, TO_MANY)
    conversation = Conversation.objects.get()
    note_add(conversation=conversation, author=agent, text="Internal: a repeat caller")
    with django_capture_on_commit_callbacks(execute=True):
        reply(agent_client, conversation, text="We are on it.")
        agent_client.post(
            f"/conversations/{conversation.pk}/reply/", {"mode": "forward", "to": "lead@shop.example", "text": ""}
        )
    sent = smtp_server.wait_for(2)[-1]
    plain = sent.get_body(("plain",)).get_content()
    assert "It stopped once more." in plain and "We are on it." in plain
    assert "repeat caller" not in plain


def test_a_pasted_image_goes_in_the_mail_body_by_content_id(
    smtp_server, agent_client, email_inbox, django_capture_on_commit_callbacks
):
    ingest(email_inbox, TO_MANY)
    conversation = Conversation.objects.get()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    with django_capture_on_commit_callbacks(execute=True):
        reply(
            agent_client,
            conversation,
            text="Turn this one:\n![pasted-1.png](cid:pasted-1.png)",
            files=SimpleUploadedFile("pasted-1.png", png, content_type="image/png"),
        )
    [sent] = smtp_server.wait_for(1)
    assert '<img src="cid:pasted-1.png" alt="pasted-1.png">' in sent.get_body(("html",)).get_content()
    [inline] = [part for part in sent.walk() if part["Content-ID"]]
    assert inline["Content-ID"] == "<pasted-1.png>" and inline.get_content() == png
    assert inline.get_content_disposition() == "inline"
    # The timeline shows it from our own copy.
    stored = Attachment.objects.get(content_id="pasted-1.png")
    page = agent_client.get(f"/conversations/{conversation.pk}/").content.decode()
    assert f'src="/attachments/{stored.pk}/"' in page


def test_an_agent_writes_first_by_email_and_a_conversation_opens(
    smtp_server, agent_client, agent, email_inbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(
            "/conversations/new/",
            {
                "inbox": email_inbox.pk,
                "to": "grace@example.com",
                "name": "Grace Hopper",
                "subject": "Your order",
                "cc": "orders@shop.example",
                "text": "Your order left today.",
            },
        )
    assert response.status_code == 200
    conversation = Conversation.objects.get()
    assert response["HX-Push-Url"] == f"/conversations/{conversation.pk}/"
    assert conversation.customer.name == "Grace Hopper" and conversation.assignee == agent
    assert conversation.subject == "Your order" and conversation.identity.address == "grace@example.com"
    [sent] = smtp_server.wait_for(1)
    assert str(sent["Subject"]) == "Your order"  # a new mail, not a reply
    assert str(sent["To"]) == "Grace Hopper <grace@example.com>" and str(sent["Cc"]) == "orders@shop.example"
    assert "In-Reply-To" not in sent
    assert AuditEntry.objects.filter(action="conversation.start", target_id=conversation.pk, actor=agent).exists()
    assert "Your order left today." in response.content.decode()  # the new conversation is on screen


def test_writing_first_needs_a_subject_and_a_real_address(agent_client, email_inbox):
    blank = agent_client.post("/conversations/new/", {"inbox": email_inbox.pk, "to": "grace@example.com", "text": "Hi"})
    assert blank.status_code == 422 and "A new email needs a subject." in blank.content.decode()
    wrong = agent_client.post(
        "/conversations/new/", {"inbox": email_inbox.pk, "to": "grace", "subject": "S", "text": "Hi"}
    )
    assert wrong.status_code == 422 and "“grace” is not an email address." in wrong.content.decode()
    assert not Conversation.objects.exists()
