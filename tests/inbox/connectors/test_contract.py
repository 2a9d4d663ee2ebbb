"""One contract, every connector (after Django's BaseEmailBackendTests)."""

import asyncio
import base64
import json
import uuid
from datetime import UTC, timedelta
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.test import RequestFactory
from django.utils import timezone

from inbox.connectors import fake
from inbox.connectors.contract import IdentityClaim, OutboundMessage, ParseError, SendError, WebhookVerificationFailed
from inbox.connectors.registry import CONNECTORS
from inbox.connectors.webchat.connector import WebchatConnector, WidgetHello, identity_hash, visitor_group
from inbox.models import Inbox
from tests.factories import InboxFactory
from tests.helpers import fake_payload

pytestmark = pytest.mark.django_db


class ConnectorContract:
    """Subclasses say how to build good and bad input and how to observe a send."""

    kind: str
    # Most providers post one message per event, keyed by the message's own id; Meta posts batches.
    one_message_per_event = True

    @pytest.fixture
    def inbox(self):
        return InboxFactory(kind=self.kind)

    @pytest.fixture
    def connector(self):
        return CONNECTORS[self.kind]

    def test_registry_serves_this_kind(self, connector):
        assert connector.kind == self.kind

    def test_parse_gives_normalized_messages_with_aware_utc_time(self, connector, inbox):
        raw = self.raw_inbound(inbox, text="Hello there")
        messages = connector.parse(inbox=inbox, raw=raw, content_type="application/json")
        assert len(messages) == 1
        message = messages[0]
        assert message.text == "Hello there"
        assert (
            message.external_id == connector.parse(inbox=inbox, raw=raw, content_type="application/json")[0].external_id
        )
        if self.one_message_per_event:
            assert message.external_id == connector.event_id(inbox=inbox, raw=raw, content_type="application/json")
        assert message.sent_at.tzinfo is not None and message.sent_at.utcoffset() == UTC.utcoffset(None)
        assert message.sender.kind and message.sender.address

    @pytest.mark.parametrize("garbage", [b"", b"not json", b"[]", b'{"id": 5}'])
    def test_garbage_raises_parse_error(self, connector, inbox, garbage):
        with pytest.raises(ParseError):
            connector.parse(inbox=inbox, raw=garbage, content_type="application/json")

    def test_verify_accepts_genuine_and_refuses_forged_requests(self, connector, inbox):
        connector.verify(inbox=inbox, request=self.genuine_request(inbox))
        with pytest.raises(WebhookVerificationFailed):
            connector.verify(inbox=inbox, request=self.forged_request(inbox))

    def test_send_returns_provider_id_and_delivers(self, connector, inbox):
        external_id, delivered = self.send_and_observe(connector, self.outbound(inbox))
        assert external_id
        assert delivered == ["We're on it"]

    def test_send_to_unreachable_address_raises_typed_error_saying_no_retry_helps(self, connector, inbox):
        with pytest.raises(SendError) as info:
            connector.send(self.unreachable_outbound(inbox))
        assert info.value.retryable is False

    def outbound(self, inbox, to=None):
        return OutboundMessage(
            message_id=1,
            conversation_id=1,
            inbox=inbox,
            to=to or self.recipient(),
            text="We're on it",
            html="",
            author_name="Sam",
            sent_at=timezone.now(),
        )


class TestFakeConnector(ConnectorContract):
    kind = Inbox.Kind.FAKE

    def raw_inbound(self, inbox, text):
        return fake_payload(text=text, sent_at="2026-11-20T10:00:00+01:00")

    def genuine_request(self, inbox):
        body = fake_payload()
        return RequestFactory().post(
            "/", data=body, content_type="application/json", headers={"X-Fake-Signature": fake.sign(inbox.secret, body)}
        )

    def forged_request(self, inbox):
        body = fake_payload()
        return RequestFactory().post(
            "/", data=body, content_type="application/json", headers={"X-Fake-Signature": fake.sign("guess", body)}
        )

    def recipient(self):
        return IdentityClaim(kind="email", address="ada@example.com")

    def unreachable_outbound(self, inbox):
        inbox.settings = {"fake_fail": "permanent"}
        return self.outbound(inbox)

    def send_and_observe(self, connector, outbound):
        return connector.send(outbound), [o.text for o in fake.outbox]


class TestWebchatConnector(ConnectorContract):
    kind = Inbox.Kind.WEBCHAT

    def raw_inbound(self, inbox, text):
        visitor = WebchatConnector().verify(inbox=inbox, request=WidgetHello(origin=None, visitor_token=None))
        return WebchatConnector().raw_message(visitor=visitor, client_id=uuid.uuid4().hex, text=text)[1]

    def genuine_request(self, inbox):
        inbox.settings = {"allowed_origins": ["https://shop.example"]}
        return WidgetHello(
            origin="https://shop.example",
            visitor_token=None,
            email="a@b.c",
            identity_hash=identity_hash(inbox.secret, "a@b.c"),
        )

    def forged_request(self, inbox):
        return WidgetHello(origin="https://evil.example", visitor_token=None)

    def recipient(self):
        return IdentityClaim(kind="webchat", address="visitor-xyz")

    def unreachable_outbound(self, inbox):
        return self.outbound(inbox, to=IdentityClaim(kind="phone", address="+15550100"))

    def send_and_observe(self, connector, outbound):
        """Listen as the visitor's widget socket does, then send."""

        async def listen_and_send():
            layer = get_channel_layer()
            channel = await layer.new_channel()
            await layer.group_add(visitor_group(outbound.inbox.pk, outbound.to.address), channel)
            external_id = await sync_to_async(connector.send)(outbound)
            event = await asyncio.wait_for(layer.receive(channel), timeout=3)
            return external_id, [event["message"]["text"]]

        return async_to_sync(listen_and_send)()


def test_webchat_identity_hash_must_match_exactly(webchat_inbox):
    connector = WebchatConnector()
    good = connector.verify(
        inbox=webchat_inbox,
        request=WidgetHello(
            origin=None,
            visitor_token=None,
            email="Ada@Example.com",
            identity_hash=identity_hash(webchat_inbox.secret, "ada@example.com"),
        ),
    )
    bad = connector.verify(
        inbox=webchat_inbox,
        request=WidgetHello(
            origin=None,
            visitor_token=None,
            email="ada@example.com",
            identity_hash=identity_hash("other", "ada@example.com"),
        ),
    )
    assert good.verified_email == "ada@example.com"
    assert bad.verified_email == "" and bad.claimed_email == "ada@example.com"
    assert json.loads(connector.raw_message(visitor=bad, client_id="c", text="t")[1])["verified_email"] == ""


def test_fake_temporary_failure_says_a_retry_can_help(fake_inbox):
    fake_inbox.settings = {"fake_fail": "temporary"}
    outbound = OutboundMessage(
        message_id=1,
        conversation_id=1,
        inbox=fake_inbox,
        to=IdentityClaim(kind="email", address="a@b.c"),
        text="x",
        html="",
        author_name="",
        sent_at=timezone.now(),
    )
    with pytest.raises(SendError) as info:
        CONNECTORS["fake"].send(outbound)
    assert info.value.retryable is True


class TestEmailConnector(ConnectorContract):
    kind = Inbox.Kind.EMAIL

    @pytest.fixture
    def inbox(self):
        return InboxFactory(kind=self.kind, settings={"address": "support@shop.example"})

    def raw_inbound(self, inbox, text):
        return (
            "From: Ada <ada@example.com>\r\nTo: support@shop.example\r\nSubject: hi\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@example.com>\r\nDate: Fri, 20 Nov 2026 10:00:00 +0100\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text
        ).encode()

    def _request(self, password):
        credentials = base64.b64encode(f"inbox:{password}".encode()).decode()
        return RequestFactory().post(
            "/", data=b"", content_type="message/rfc822", headers={"Authorization": f"Basic {credentials}"}
        )

    def genuine_request(self, inbox):
        return self._request(inbox.secret)

    def forged_request(self, inbox):
        return self._request("guess")

    def recipient(self):
        return IdentityClaim(kind="email", address="ada@example.com", display="Ada <ada@example.com>")

    def unreachable_outbound(self, inbox):
        return self.outbound(inbox, to=IdentityClaim(kind="phone", address="+15550100"))

    def send_and_observe(self, connector, outbound):
        from django.core import mail

        return connector.send(outbound), [m.body for m in mail.outbox]


class TestSmsConnector(ConnectorContract):
    kind = Inbox.Kind.SMS

    @pytest.fixture
    def inbox(self, twilio, settings):
        settings.PUBLIC_BASE_URL = "https://inbox.shop.example"
        self.twilio = twilio
        return InboxFactory(
            kind=self.kind,
            settings={"from_number": "+15017122661"},
            credentials={"account_sid": twilio.account_sid, "auth_token": twilio.auth_token},
        )

    def raw_inbound(self, inbox, text):
        sid = "SM" + uuid.uuid4().hex
        return urlencode({"MessageSid": sid, "SmsSid": sid, "From": "+14155550123", "Body": text}).encode()

    def _request(self, inbox, token):
        from twilio.request_validator import RequestValidator

        fields = {"MessageSid": "SM1", "From": "+14155550123", "Body": "hi"}
        path = f"/hooks/sms/{inbox.public_token}/"
        signature = RequestValidator(token).compute_signature(f"https://inbox.shop.example{path}", fields)
        return RequestFactory().post(
            path,
            data=urlencode(fields),
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": signature},
        )

    def genuine_request(self, inbox):
        return self._request(inbox, self.twilio.auth_token)

    def forged_request(self, inbox):
        return self._request(inbox, "guess")

    def recipient(self):
        return IdentityClaim(kind="phone", address="+14155550123")

    def unreachable_outbound(self, inbox):
        return self.outbound(inbox, to=IdentityClaim(kind="email", address="ada@example.com"))

    def send_and_observe(self, connector, outbound):
        return connector.send(outbound), [request["form"]["Body"] for request in self.twilio.requests]


class TestMessengerConnector(ConnectorContract):
    kind = Inbox.Kind.MESSENGER
    one_message_per_event = False

    @pytest.fixture
    def inbox(self, graph):
        self.graph = graph
        credentials = {"app_secret": "app-secret", "page_access_token": graph.page_token}
        return InboxFactory(kind=self.kind, credentials=credentials)

    def raw_inbound(self, inbox, text):
        item = {
            "sender": {"id": "6789012345678901"},
            "recipient": {"id": "1048576"},
            "timestamp": 1763892000000,
            "message": {"mid": "m_" + uuid.uuid4().hex, "text": text},
        }
        return json.dumps({"object": "page", "entry": [{"id": "1048576", "time": 1, "messaging": [item]}]}).encode()

    def _request(self, secret):
        from inbox.connectors.messenger.connector import signature_of

        body = b'{"object": "page", "entry": []}'
        return RequestFactory().post(
            "/", data=body, content_type="application/json", headers={"X-Hub-Signature-256": signature_of(secret, body)}
        )

    def genuine_request(self, inbox):
        return self._request("app-secret")

    def forged_request(self, inbox):
        return self._request("guess")

    def recipient(self):
        return IdentityClaim(kind="messenger", address="6789012345678901")

    def outbound(self, inbox, to=None):
        from dataclasses import replace

        return replace(super().outbound(inbox, to), last_inbound_at=timezone.now())

    def unreachable_outbound(self, inbox):
        return self.outbound(inbox, to=IdentityClaim(kind="phone", address="+14155550123"))

    def send_and_observe(self, connector, outbound):
        return connector.send(outbound), [request["message"]["text"] for request in self.graph.requests]


@pytest.mark.parametrize(
    "kind, inbox_settings, opted_out_days, last_inbound_days, reason",
    [
        ("sms", {}, 1, 0, "they opted out (texted STOP) and must text START first"),
        ("sms", {}, None, 30, ""),
        ("messenger", {}, None, 0.5, ""),
        ("messenger", {}, None, 2, "Messenger allows replies only within 24 hours of their last message"),
        ("messenger", {"human_agent_tag": True}, None, 2, ""),
        (
            "messenger",
            {"human_agent_tag": True},
            None,
            8,
            "Messenger allows replies only within 7 days of their last message",
        ),
        ("email", {}, 1, 400, ""),
        ("webchat", {}, None, 400, ""),
    ],
)
def test_each_channel_says_before_the_agent_writes_what_its_provider_would_refuse(
    kind, inbox_settings, opted_out_days, last_inbound_days, reason
):
    now = timezone.now()
    blocked = CONNECTORS[kind].reply_blocked(
        inbox_settings=inbox_settings,
        opted_out_at=now - timedelta(days=opted_out_days) if opted_out_days is not None else None,
        last_inbound_at=now - timedelta(days=last_inbound_days),
    )
    assert blocked == reason
