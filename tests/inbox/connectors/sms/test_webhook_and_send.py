"""SMS through Twilio: signed webhooks in, the twilio library out to a local stand-in, status back."""

from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from twilio.request_validator import RequestValidator

from conversations.models import Attachment, Conversation, InboundEvent, Message
from conversations.replies import message_reply
from customers.models import ContactIdentity
from inbox.models import Inbox
from tests.factories import InboxFactory, MembershipFactory

pytestmark = pytest.mark.django_db

PUBLIC_BASE_URL = "https://inbox.shop.example"
OUR_NUMBER = "+15017122661"


@pytest.fixture
def sms_inbox(twilio, agent, settings):
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    inbox = InboxFactory(
        kind="sms",
        name="Texts",
        settings={"from_number": OUR_NUMBER},
        credentials={"account_sid": twilio.account_sid, "auth_token": twilio.auth_token},
    )
    MembershipFactory(inbox=inbox, user=agent)
    return inbox


def inbound_fields(twilio, sid="SM" + "1" * 32, body="Hi, is my order ready?", sender="+14155550123", **extra):
    # The fields Twilio posts for an incoming message (https://www.twilio.com/docs/messaging/guides/webhook-request).
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": OUR_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": twilio.account_sid,
        "From": sender,
        "ApiVersion": "2010-04-01",
        **extra,
    }


@pytest.fixture
def post_twilio(client, sms_inbox, twilio, django_capture_on_commit_callbacks):
    """Post as Twilio does: form fields, signed over the public URL with the account's auth token."""

    def post(fields, *, token=None, signature=None):
        path = f"/hooks/sms/{sms_inbox.public_token}/"
        if signature is None:
            signature = RequestValidator(token or twilio.auth_token).compute_signature(PUBLIC_BASE_URL + path, fields)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                path,
                data=urlencode(fields),
                content_type="application/x-www-form-urlencoded",
                headers={"X-Twilio-Signature": signature},
            )

    return post


def test_a_text_becomes_a_message_of_the_customer_by_their_number_and_twilio_gets_empty_twiml(
    post_twilio, twilio, sms_inbox
):
    response = post_twilio(inbound_fields(twilio, sender="+1 (415) 555-0123"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml") and b"<Response></Response>" in response.content
    message = Message.objects.select_related("identity").get()
    assert message.text == "Hi, is my order ready?"
    assert (message.identity.kind, message.identity.address) == ("phone", "+14155550123")  # E.164
    # Twilio retries (also from several of its servers at once): still one message.
    post_twilio(inbound_fields(twilio, sender="+1 (415) 555-0123"))
    assert Message.objects.count() == InboundEvent.objects.count() == 1


def test_a_wrong_or_missing_signature_is_refused_and_stored_nowhere(post_twilio, twilio):
    assert post_twilio(inbound_fields(twilio), token="not-the-auth-token").status_code == 403
    assert post_twilio(inbound_fields(twilio), signature="").status_code == 403
    assert not InboundEvent.objects.exists() and not Message.objects.exists()


def test_mms_media_is_downloaded_with_the_account_credentials(post_twilio, twilio):
    sid = "MM" + "2" * 32
    url = twilio.add_media(sid, "image/jpeg", b"\xff\xd8\xff photo")
    post_twilio(inbound_fields(twilio, sid=sid, body="", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg"))
    attachment = Attachment.objects.get()
    assert attachment.content_type == "image/jpeg" and attachment.file.read() == b"\xff\xd8\xff photo"


def test_media_anywhere_but_twilio_is_never_fetched_and_media_too_big_is_named_the_text_kept(
    post_twilio, twilio, settings
):
    settings.SMS_MEDIA_MAX_BYTES = 10
    big = twilio.add_media("MM" + "5" * 32, "image/jpeg", b"x" * 11)
    fields = inbound_fields(
        twilio,
        body="please see photo, urgent",
        NumMedia="2",
        MediaUrl0="http://169.254.169.254/latest/meta-data/",
        MediaContentType0="image/png",
        MediaUrl1=big,
        MediaContentType1="image/jpeg",
    )
    assert post_twilio(fields).status_code == 200
    message = Message.objects.get()
    assert message.text.startswith("please see photo, urgent")
    assert "not Twilio's" in message.text and "over 10 bytes" in message.text
    assert not Attachment.objects.exists()


def test_agent_reply_goes_out_as_twilio_documents_and_its_status_comes_back(
    post_twilio, twilio, sms_inbox, agent, django_capture_on_commit_callbacks
):
    post_twilio(inbound_fields(twilio))
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=conversation, author=agent, text="Yes, ready for pickup!")
    [request] = twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert request["form"] == {
        "To": "+14155550123",
        "From": OUR_NUMBER,
        "Body": "Yes, ready for pickup!",
        "StatusCallback": f"{PUBLIC_BASE_URL}/hooks/sms/{sms_inbox.public_token}/",
    }
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT and reply.external_id.startswith("SM")

    # Twilio's status callbacks, signed like any webhook: delivered, and a late "sent" changes nothing.
    callback = {
        "MessageSid": reply.external_id,
        "SmsSid": reply.external_id,
        "AccountSid": twilio.account_sid,
        "From": OUR_NUMBER,
        "To": "+14155550123",
        "ApiVersion": "2010-04-01",
    }
    assert post_twilio({**callback, "MessageStatus": "delivered", "SmsStatus": "delivered"}).status_code == 200
    post_twilio({**callback, "MessageStatus": "sent", "SmsStatus": "sent"})
    reply.refresh_from_db()
    assert reply.status == Message.Status.DELIVERED
    assert Message.objects.count() == 2  # callbacks are no messages


def test_undelivered_status_shows_the_twilio_error(
    post_twilio, twilio, agent, agent_client, django_capture_on_commit_callbacks
):
    post_twilio(inbound_fields(twilio))
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=Conversation.objects.get(), author=agent, text="hello")
    reply.refresh_from_db()
    post_twilio(
        {
            "MessageSid": reply.external_id,
            "AccountSid": twilio.account_sid,
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
            "To": "+14155550123",
            "From": OUR_NUMBER,
        }
    )
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED and "30003" in reply.status_detail
    page = agent_client.get(f"/conversations/{reply.conversation_id}/").content.decode()
    assert "The phone network could not deliver it." in page and "<code>Twilio error 30003</code>" in page


def test_stop_opts_the_number_out_and_replies_are_refused_until_start(
    post_twilio, twilio, agent, agent_client, django_capture_on_commit_callbacks
):
    post_twilio(inbound_fields(twilio, sid="SM" + "3" * 32, body="STOP", OptOutType="STOP"))
    identity = ContactIdentity.objects.get(kind="phone")
    assert identity.opted_out_at is not None
    conversation = Conversation.objects.get()
    page = agent_client.get(f"/conversations/{conversation.pk}/").content.decode()
    assert "they opted out (texted STOP)" in page  # the agent sees why before writing
    with django_capture_on_commit_callbacks(execute=True):
        refused = message_reply(conversation=conversation, author=agent, text="Are you sure?")
    refused.refresh_from_db()
    assert refused.status == Message.Status.FAILED and "opted out" in refused.status_detail
    assert twilio.requests == []  # nothing reached Twilio

    post_twilio(inbound_fields(twilio, sid="SM" + "4" * 32, body="start", OptOutType="START"))
    with django_capture_on_commit_callbacks(execute=True):
        welcome = message_reply(conversation=conversation, author=agent, text="Welcome back")
    welcome.refresh_from_db()
    assert welcome.status == Message.Status.SENT and len(twilio.requests) == 1


def test_twilio_saying_unsubscribed_fails_the_reply_and_marks_the_number(
    post_twilio, twilio, agent, django_capture_on_commit_callbacks
):
    post_twilio(inbound_fields(twilio, sender="+15005550004"))
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=Conversation.objects.get(), author=agent, text="hello")
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED and "21610" in reply.status_detail
    assert ContactIdentity.objects.get(kind="phone").opted_out_at is not None
    # The number's own trouble: the inbox stays healthy.
    assert Inbox.objects.get(pk=reply.inbox_id).last_error == ""


def test_twilio_server_errors_say_a_retry_can_help_and_client_errors_say_not(twilio, sms_inbox):
    from django.utils import timezone

    from inbox.connectors.contract import IdentityClaim, OutboundMessage, SendError
    from inbox.connectors.sms.connector import SmsConnector

    def outbound(to):
        return OutboundMessage(
            message_id=1,
            conversation_id=1,
            inbox=sms_inbox,
            to=IdentityClaim(kind="phone", address=to),
            text="hello",
            html="",
            author_name="",
            sent_at=timezone.now(),
        )

    twilio.server_errors = 1
    with pytest.raises(SendError) as busy:
        SmsConnector().send(outbound("+14155550123"))
    assert busy.value.retryable is True
    with pytest.raises(SendError) as invalid:
        SmsConnector().send(outbound("+15005550001"))
    assert invalid.value.retryable is False and invalid.value.recipient is True
    assert str(invalid.value) == "This phone number is not valid." and "21211" in invalid.value.detail
    assert SmsConnector().send(outbound("+14155550123")).startswith("SM")  # the next one goes through


@pytest.mark.django_db(transaction=True)
async def test_end_to_end_the_agent_sees_the_text_and_the_delivery_of_the_reply_live(
    post_twilio, twilio, sms_inbox, agent
):
    from asgiref.sync import sync_to_async

    from tests.sockets import agent_socket, receive_until, session_cookie

    ws, connected = await agent_socket(cookie=await sync_to_async(session_cookie)(agent))
    assert connected
    await sync_to_async(post_twilio)(inbound_fields(twilio, body="Where is my parcel?"))
    assert "Where is my parcel?" in await ws.receive_from(timeout=5)

    conversation = await sync_to_async(Conversation.objects.get)()
    reply = await sync_to_async(message_reply)(conversation=conversation, author=agent, text="Out for delivery")
    assert "Out for delivery" in await ws.receive_from(timeout=5)
    # Twilio took it (the send runs after commit): the agent sees "Sent".
    # Replying also assigns the conversation to the agent: that event comes first.
    assert await receive_until(ws, 'class="delivery delivery-sent"')
    await sync_to_async(reply.refresh_from_db)()

    callback = {"MessageSid": reply.external_id, "AccountSid": twilio.account_sid, "MessageStatus": "delivered"}
    await sync_to_async(post_twilio)({**callback, "To": "+14155550123", "From": OUR_NUMBER})
    frame = await ws.receive_from(timeout=5)
    assert f'id="msg-{reply.pk}"' in frame and "Delivered" in frame
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
def test_a_text_retried_concurrently_is_one_message(sms_inbox, twilio):
    from django.test import Client

    from tests.helpers import run_concurrently

    fields = inbound_fields(twilio, sid="SM" + "9" * 32)
    path = f"/hooks/sms/{sms_inbox.public_token}/"
    signature = RequestValidator(twilio.auth_token).compute_signature(PUBLIC_BASE_URL + path, fields)

    def post():
        response = Client().post(
            path,
            data=urlencode(fields),
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": signature},
        )
        assert response.status_code == 200

    run_concurrently(*[post] * 6)
    assert Message.objects.count() == InboundEvent.objects.count() == 1


def test_an_agent_texts_first_and_a_conversation_opens(
    sms_inbox, twilio, agent, agent_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(
            "/conversations/new/", {"inbox": sms_inbox.pk, "to": "+1 (415) 555-0199", "text": "Your parcel is here."}
        )
    assert response.status_code == 200
    conversation = Conversation.objects.get()
    assert conversation.identity.kind == "phone" and conversation.identity.address == "+14155550199"
    assert conversation.assignee == agent and conversation.inbox == sms_inbox
    [sent] = twilio.requests
    assert sent["form"]["To"] == "+14155550199" and sent["form"]["From"] == OUR_NUMBER
    assert sent["form"]["Body"] == "Your parcel is here."
    message = Message.objects.get()
    assert message.status == Message.Status.SENT and message.external_id.startswith("SM")


def test_texting_first_refuses_what_is_not_a_phone_number(sms_inbox, agent_client):
    response = agent_client.post("/conversations/new/", {"inbox": sms_inbox.pk, "to": "call me", "text": "Hi"})
    assert response.status_code == 422
    assert "is not a phone number (write it with its country code" in response.content.decode()
    assert not Conversation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_mms_goes_out_with_its_picture_which_twilio_fetches_from_a_signed_link(
    live_server, settings, post_twilio, twilio, agent, agent_client
):
    post_twilio(inbound_fields(twilio))
    conversation = Conversation.objects.get()
    settings.PUBLIC_BASE_URL = live_server.url  # where Twilio fetches the media from
    picture = SimpleUploadedFile("parcel.jpg", b"\xff\xd8\xff\xe0 a jpeg", content_type="image/jpeg")
    response = agent_client.post(f"/conversations/{conversation.pk}/reply/", {"text": "Here it is", "files": [picture]})
    assert response.status_code == 200
    [request] = twilio.requests
    [url] = request["form"]["MediaUrl"]
    assert url.startswith(f"{live_server.url}/files/") and request["form"]["Body"] == "Here it is"
    [(_, status, content_type, body)] = twilio.media_fetched
    assert (status, content_type, body) == (200, "image/jpeg", b"\xff\xd8\xff\xe0 a jpeg")
    assert Message.objects.get(direction=Message.Direction.OUTBOUND).status == Message.Status.SENT


def test_files_twilio_would_refuse_are_refused_before_anything_is_sent(sms_inbox, post_twilio, twilio, agent_client):
    post_twilio(inbound_fields(twilio))
    conversation = Conversation.objects.get()
    url = f"/conversations/{conversation.pk}/reply/"
    program = SimpleUploadedFile("setup.exe", b"MZ...", content_type="application/x-msdownload")
    refused = agent_client.post(url, {"text": "Try this", "files": [program]})
    assert refused.status_code == 422 and "“setup.exe” cannot be sent on this channel" in refused.content.decode()
    big = SimpleUploadedFile("big.jpg", b"\xff" * (5 * 1024 * 1024 + 1), content_type="image/jpeg")
    refused = agent_client.post(url, {"text": "Big", "files": [big]})
    assert refused.status_code == 422 and "larger than the 5 MB this channel takes" in refused.content.decode()
    assert twilio.requests == [] and not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
