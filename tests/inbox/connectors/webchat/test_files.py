"""Files in a chat: a visitor's upload, checked on its content and shown to the team; an agent's
files reaching the visitor by signed links; the links themselves."""

import base64
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conversations.models import Attachment, InboundEvent, Message
from conversations.replies import message_reply
from inbox.connectors.public_files import public_file_url
from inbox.connectors.webchat.connector import WidgetHello
from inbox.connectors.webchat.services import connector
from tests.factories import InboxFactory, MembershipFactory

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def chat(agent):
    inbox = InboxFactory(kind="webchat", name="Website", settings={"allowed_origins": [SHOP]})
    MembershipFactory(inbox=inbox, user=agent)
    visitor = connector.verify(inbox=inbox, request=WidgetHello(origin=SHOP, visitor_token=None))
    return inbox, visitor


def upload(
    client, inbox, visitor, name, content, *, origin=SHOP, token=None, text="", content_type="image/png", id="c-1"
):
    return client.post(
        f"/widget/{inbox.public_token}/upload/",
        {
            "visitor_token": visitor.token if token is None else token,
            "id": id,
            "text": text,
            "file": SimpleUploadedFile(name, content, content_type=content_type),
        },
        HTTP_ORIGIN=origin,
    )


def test_a_visitors_picture_becomes_a_message_with_the_file_and_the_raw_event_keeps_it(client, agent_client, chat):
    inbox, visitor = chat
    response = upload(client, inbox, visitor, "receipt.png", PNG, text="Here is the receipt")
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == SHOP
    reply = response.json()
    assert reply["type"] == "ack" and reply["message"]["text"] == "Here is the receipt"
    [shown] = reply["message"]["files"]
    assert shown["name"] == "receipt.png" and shown["type"] == "image/png" and shown["size"] == len(PNG)
    message = Message.objects.get()
    [attachment] = message.attachments.all()
    assert attachment.content_type == "image/png" and attachment.file.read() == PNG
    # Nothing lost: the raw event holds the file itself, so a replay would bring it back.
    stored = json.loads(bytes(InboundEvent.objects.get().raw))
    assert base64.b64decode(stored["files"][0]["content"]) == PNG
    page = agent_client.get(f"/conversations/{message.conversation_id}/").content.decode()
    assert f'<img src="/attachments/{attachment.pk}/" alt="receipt.png"' in page
    # The visitor opens it from its signed link.
    assert client.get(shown["url"].removeprefix("http://localhost:8000")).getvalue() == PNG


@pytest.mark.parametrize(
    "name, content, said",
    [
        ("page.html", b"<html><script>alert(1)</script></html>", "This kind of file cannot be sent here."),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>', "cannot be sent here"),
        ("tool.png", b"MZ\x90\x00\x03" + b"\x00" * 60, "cannot be sent here"),  # a program named as a picture
        ("big.png", PNG + b"\x00" * (2 * 1024 * 1024), "larger than 1 MB"),
    ],
)
def test_a_file_of_the_wrong_kind_or_too_big_is_refused_with_a_sentence(client, chat, settings, name, content, said):
    settings.WIDGET_UPLOAD_MAX_BYTES = 1024 * 1024
    inbox, visitor = chat
    response = upload(client, inbox, visitor, name, content)
    assert response.status_code == 422 and said in response.json()["message"]
    assert response.json()["code"] == "file_refused"
    assert not Message.objects.exists() and not InboundEvent.objects.exists()


def test_text_files_and_pdfs_are_taken_by_their_content(client, chat):
    inbox, visitor = chat
    assert upload(client, inbox, visitor, "notes", b"Order 1042, size M", content_type="").status_code == 200
    pdf = upload(
        client, inbox, visitor, "invoice.bin", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", content_type="", id="c-2"
    )
    assert pdf.status_code == 200
    assert sorted(Attachment.objects.values_list("content_type", flat=True)) == ["application/pdf", "text/plain"]


def test_a_visitor_file_needs_the_widgets_origin_and_its_visitor_token(client, chat):
    inbox, visitor = chat
    assert upload(client, inbox, visitor, "a.png", PNG, origin="https://evil.example").status_code == 403
    assert upload(client, inbox, visitor, "a.png", PNG, token="").status_code == 400
    assert not Message.objects.exists()


def test_an_agents_file_reaches_the_visitor_by_a_signed_link(client, agent, chat, django_capture_on_commit_callbacks):
    inbox, visitor = chat
    upload(client, inbox, visitor, "receipt.png", PNG)
    conversation = Message.objects.get().conversation
    manual = SimpleUploadedFile("manual.pdf", b"%PDF-1.4 manual", content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=conversation, author=agent, text="", files=[manual])
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT
    history = connector.verify(inbox=inbox, request=WidgetHello(origin=SHOP, visitor_token=visitor.token))
    from inbox.connectors.webchat.services import visitor_history

    [_, sent] = visitor_history(inbox=inbox, visitor=history)
    [file] = sent["files"]
    assert file["name"] == "manual.pdf"
    opened = client.get(file["url"].removeprefix("http://localhost:8000"))
    assert opened.status_code == 200 and opened.getvalue() == b"%PDF-1.4 manual"
    assert opened["Content-Type"] == "application/pdf" and opened["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in opened["Content-Disposition"]


def test_a_files_signed_link_opens_it_and_a_forged_or_old_one_does_not(client, chat, settings):
    inbox, visitor = chat
    upload(client, inbox, visitor, "receipt.png", PNG)
    attachment = Attachment.objects.get()
    url = public_file_url(attachment.pk).removeprefix("http://localhost:8000")
    assert client.get(url).status_code == 200
    token = url.split("/")[2]
    forged = token.replace(f"{attachment.pk}:", f"{attachment.pk + 1}:", 1)
    assert client.get(f"/files/{forged}/").status_code == 404
    settings.PUBLIC_FILE_MAX_AGE_SECONDS = -1  # every link is now too old
    assert client.get(url).status_code == 404


def test_the_visitors_page_browser_and_clock_show_beside_the_chat(client, agent_client, chat):
    inbox, visitor = chat
    client.post(
        f"/widget/{inbox.public_token}/upload/",
        {
            "visitor_token": visitor.token,
            "id": "c-9",
            "file": SimpleUploadedFile("r.png", PNG, content_type="image/png"),
            "page": "https://shop.example/checkout",
            "title": "Checkout · Shop",
            "referrer": "javascript:alert(1)",
            "time_zone": "Asia/Kuala_Lumpur",
            "language": "ms-MY",
        },
        HTTP_ORIGIN=SHOP,
        HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
    )
    identity = Message.objects.get().identity
    assert identity.context["page"] == "https://shop.example/checkout" and "referrer" not in identity.context
    page = agent_client.get(f"/conversations/{Message.objects.get().conversation_id}/").content.decode()
    assert '<a href="https://shop.example/checkout"' in page and "Checkout · Shop" in page
    assert "Chrome 131 on Windows 10" in page and 'data-zone="Asia/Kuala_Lumpur"' in page and "ms-MY" in page
    assert "javascript:" not in page
