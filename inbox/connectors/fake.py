"""A connector that records what it would send, like Django's locmem email backend.

Inbound it speaks a tiny JSON webhook signed with HMAC-SHA256 of the raw body (header
``X-Fake-Signature``), so the generic webhook path is exercised exactly as real providers use it.
"""

import hashlib
import hmac

from django.db import OperationalError
from django.utils import timezone

from inbox.connectors.contract import (
    Connector,
    IdentityClaim,
    InboundMessage,
    OutboundMessage,
    SendError,
    StatusUpdate,
    WebhookVerificationFailed,
    signatures_match,
)
from inbox.connectors.parsing import load_json_object, require_str, sanitize_html, utc_from_timestamp

SIGNATURE_HEADER = "X-Fake-Signature"

# What the fake connector "sent", oldest first. Tests read and clear it.
outbox: list[OutboundMessage] = []


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeConnector(Connector):
    kind = "fake"

    def verify(self, *, inbox, request) -> None:
        given = request.headers.get(SIGNATURE_HEADER)
        if not any(signatures_match(sign(secret, request.body), given) for secret in inbox.secrets):
            raise WebhookVerificationFailed(f"{SIGNATURE_HEADER} missing or wrong")

    def event_id(self, *, inbox, raw, content_type) -> str:
        return require_str(load_json_object(raw), "id", max_length=255)

    def parse(self, *, inbox, raw, content_type) -> list[InboundMessage]:
        if inbox.settings.get("fake_database_down"):
            # What a PostgreSQL restart looks like to the code processing an event.
            raise OperationalError("server closed the connection unexpectedly")
        data = load_json_object(raw)
        if data.get("type", "message") != "message":
            return []
        sender = require_str(data, "from", max_length=320)
        return [
            InboundMessage(
                external_id=require_str(data, "id", max_length=255),
                sender=IdentityClaim(kind="email", address=sender.strip().lower(), display=sender),
                text=data.get("text", ""),
                html=sanitize_html(data.get("html", "")),
                sent_at=utc_from_timestamp(data.get("sent_at"), default=timezone.now()),
                customer_name=data.get("name", ""),
            )
        ]

    def parse_status(self, *, inbox, raw, content_type) -> list[StatusUpdate]:
        data = load_json_object(raw)
        if data.get("type") != "status":
            return []
        return [StatusUpdate(require_str(data, "message_id"), require_str(data, "status"), data.get("detail", ""))]

    def send(self, outbound: OutboundMessage) -> str:
        failure = outbound.inbox.settings.get("fake_fail")
        if failure:
            raise SendError(
                "The test provider refused the message.",
                detail=f"fake_fail={failure}",
                retryable=failure == "temporary",
            )
        outbox.append(outbound)
        return f"fake-{outbound.message_id}"
