"""Inbound mail from email service providers' webhooks (through django-anymail), each signed or
authenticated the provider's documented way, and refused when it is not."""

import base64
import hashlib
import hmac
import io
import json
import time
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.test.client import BOUNDARY, encode_multipart

from conversations.models import InboundEvent, Message
from inbox.connectors.email.providers import PROVIDERS
from tests.factories import InboxFactory

pytestmark = pytest.mark.django_db

SIGNING_KEY = "key-provider-signing-secret"
PUBLIC_BASE_URL = "https://inbox.shop.example"

RAW = (
    b"From: Ada Lovelace <ada@example.com>\r\nTo: support@shop.example\r\nSubject: Engine trouble\r\n"
    b"Message-ID: <ada-esp-1@mail.example.com>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe engine makes a noise.\r\n"
)


@pytest.fixture
def inbox(settings):
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    return InboxFactory(
        kind="email",
        settings={"address": "support@shop.example"},
        credentials={"inbound_signing_key": SIGNING_KEY},
    )


def basic(password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"inbox:{password}".encode()).decode()}


def url(inbox, provider):
    return f"/hooks/email/{inbox.public_token}/{provider}/"


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """Post as the provider would; the processing queued after commit runs, as a worker would."""

    def send(path, **request):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, **request)

    return send


# Each provider: (valid request, the same request with a wrong signature or password), as
# keyword arguments for the test client's post, built the way the provider documents it.


def mailgun(inbox, valid=True):
    timestamp, token = str(int(time.time())), "a" * 50
    key = SIGNING_KEY if valid else "wrong"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    fields = {
        "body-mime": RAW.decode(),
        "sender": "ada@example.com",
        "recipient": "support@shop.example",
        "timestamp": timestamp,
        "token": token,
        "signature": signature,
    }
    return {"data": fields}  # multipart/form-data, as Mailgun's forward() posts


def mandrill(inbox, valid=True):
    events = json.dumps(
        [
            {
                "event": "inbound",
                "ts": int(time.time()),
                "msg": {"raw_msg": RAW.decode(), "email": "support@shop.example"},
            }
        ]
    )
    signed = f"{PUBLIC_BASE_URL}{url(inbox, 'mandrill')}mandrill_events{events}"
    key = SIGNING_KEY if valid else "wrong"
    signature = base64.b64encode(hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    return {
        "data": urlencode({"mandrill_events": events}),
        "content_type": "application/x-www-form-urlencoded",
        "headers": {"X-Mandrill-Signature": signature},
    }


def mailersend(inbox, valid=True):
    body = json.dumps(
        {
            "type": "inbound.message",
            "data": {
                "id": "65f0c1",
                "created_at": "2026-11-23T09:00:01.000000Z",
                "raw": RAW.decode(),
                "sender": {"email": "ada@example.com"},
                "recipients": {"rcptTo": [{"email": "support@shop.example"}]},
            },
        }
    ).encode()
    key = SIGNING_KEY if valid else "wrong"
    signature = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return {"data": body, "content_type": "application/json", "headers": {"Signature": signature}}


def postmark(inbox, valid=True):
    body = {
        "FromFull": {"Email": "ada@example.com", "Name": "Ada Lovelace"},
        "Headers": [{"Name": "Return-Path", "Value": "<ada@example.com>"}],
        "RawEmail": RAW.decode(),
    }
    return {
        "data": json.dumps(body),
        "content_type": "application/json",
        "headers": basic(inbox.secret if valid else "wrong"),
    }


def sendgrid(inbox, valid=True):
    fields = {
        "email": RAW.decode(),
        "envelope": json.dumps({"to": ["support@shop.example"], "from": "ada@example.com"}),
        "spam_score": "0.1",
    }
    return {"data": fields, "headers": basic(inbox.secret if valid else "wrong")}  # "Send Raw" mode


def mailjet(inbox, valid=True):
    body = {
        "Sender": "ada@example.com",
        "Recipient": "support@shop.example",
        "Headers": {
            "From": "Ada Lovelace <ada@example.com>",
            "To": "support@shop.example",
            "Subject": "Engine trouble",
            "Message-ID": "<ada-esp-1@mail.example.com>",
            "Date": "Mon, 23 Nov 2026 09:00:00 +0000",
        },
        "Text-part": "The engine makes a noise.",
        "Parts": [{"ContentRef": "Text-part", "Headers": {"Content-Type": "text/plain; charset=utf-8"}}],
        "SpamAssassinScore": "0.1",
    }
    return {
        "data": json.dumps(body),
        "content_type": "application/json",
        "headers": basic(inbox.secret if valid else "wrong"),
    }


def sparkpost(inbox, valid=True):
    body = [
        {
            "msys": {
                "relay_message": {
                    "protocol": "smtp",
                    "msg_from": "ada@example.com",
                    "rcpt_to": "support@shop.example",
                    "content": {"email_rfc822": base64.b64encode(RAW).decode(), "email_rfc822_is_base64": True},
                }
            }
        }
    ]
    return {
        "data": json.dumps(body),
        "content_type": "application/json",
        "headers": basic(inbox.secret if valid else "wrong"),
    }


REQUESTS = {fn.__name__: fn for fn in (mailgun, mandrill, mailersend, postmark, sendgrid, mailjet, sparkpost)}


def test_every_enabled_provider_is_tested():
    assert set(REQUESTS) == set(PROVIDERS)


@pytest.mark.parametrize("provider", sorted(REQUESTS))
def test_provider_mail_with_a_valid_signature_becomes_a_message(post, inbox, provider):
    response = post(url(inbox, provider), **REQUESTS[provider](inbox))
    assert response.status_code == 200, response.content
    message = Message.objects.select_related("identity", "conversation").get()
    assert message.identity.address == "ada@example.com"
    assert message.conversation.subject == "Engine trouble"
    assert message.text == "The engine makes a noise."
    assert message.external_id == "ada-esp-1@mail.example.com"
    assert InboundEvent.objects.get().content_type == "message/rfc822"  # the original, downloadable


@pytest.mark.parametrize("provider", sorted(REQUESTS))
def test_provider_mail_with_a_wrong_signature_is_refused_and_stored_nowhere(post, inbox, provider):
    response = post(url(inbox, provider), **REQUESTS[provider](inbox, valid=False))
    assert response.status_code == 403
    assert not InboundEvent.objects.exists() and not Message.objects.exists()


def test_a_signing_provider_is_refused_while_the_inbox_has_no_key(post, inbox):
    inbox.credentials = {}
    inbox.save()
    assert post(url(inbox, "mailgun"), **mailgun(inbox)).status_code == 403
    assert not InboundEvent.objects.exists()


def test_the_same_mail_by_provider_and_raw_webhook_is_one_message(post, inbox):
    post(url(inbox, "postmark"), **postmark(inbox))
    post(f"/hooks/email/{inbox.public_token}/", data=RAW, content_type="message/rfc822", headers=basic(inbox.secret))
    post(url(inbox, "postmark"), **postmark(inbox))  # the provider retries
    assert Message.objects.count() == InboundEvent.objects.count() == 1


def test_a_verified_payload_that_cannot_be_read_is_kept_failed_and_replayable(post, inbox):
    request = sendgrid(inbox)
    del request["data"]["email"]  # neither the raw mail nor its parsed fields
    response = post(url(inbox, "sendgrid"), **request)
    assert response.status_code == 200  # kept: the provider need not retry
    event = InboundEvent.objects.get()
    assert event.state == InboundEvent.State.FAILED and event.error
    assert event.content_type.startswith("application/vnd.inbox.provider-payload; provider=sendgrid")
    assert not Message.objects.exists()

    # After a fix (here: the stored payload repaired by hand), replay reads it as SendGrid posted it.
    InboundEvent.objects.filter(pk=event.pk).update(raw=encode_multipart(BOUNDARY, sendgrid(inbox)["data"]))
    call_command("email", "replay", stdout=io.StringIO())
    assert Message.objects.get().text == "The engine makes a noise."


def test_a_mailgun_signature_is_taken_once_and_only_while_fresh(post, inbox):
    request = mailgun(inbox)
    assert post(url(inbox, "mailgun"), **request).status_code == 200
    assert post(url(inbox, "mailgun"), **request).status_code == 403  # replayed
    stale = mailgun(inbox)
    stale["data"]["timestamp"] = str(int(time.time()) - 3600)
    stale["data"]["signature"] = hmac.new(
        SIGNING_KEY.encode(), f"{stale['data']['timestamp']}{stale['data']['token']}x".encode(), hashlib.sha256
    ).hexdigest()
    stale["data"]["token"] += "x"
    assert post(url(inbox, "mailgun"), **stale).status_code == 403  # signed, but an hour old
    assert Message.objects.count() == 1


def test_mandrill_can_check_the_webhook_url(client, inbox):
    assert client.head(url(inbox, "mandrill")).status_code == 200
