"""The website chat widget.

A visitor is known by a signed visitor token the widget keeps in localStorage. A website that knows
its user may pass the user's email with ``identity_hash = HMAC-SHA256(inbox secret, email)``; only a
correct hash links the chat to the customer with that email. Anything else is an unverified claim.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core import signing
from django.utils import timezone

from inbox.connectors.contract import (
    MB,
    AttachmentContent,
    AttachmentRules,
    Connector,
    IdentityClaim,
    InboundMessage,
    OutboundMessage,
    ParseError,
    SendError,
    WebhookVerificationFailed,
    signatures_match,
)
from inbox.connectors.parsing import load_json_object, require_str, utc_from_timestamp

MAX_TEXT_LENGTH = 10_000
MAX_FILE_BASE64 = 40 * MB  # what a raw event's file may hold, base64 (uploads are checked smaller first)
RECEIPT_STATUSES = {"delivered", "read"}
VISITOR_TOKEN_SALT = "inbox.webchat.visitor"


@dataclass(frozen=True)
class WidgetHello:
    """What a widget says when its socket opens."""

    origin: str | None
    visitor_token: str | None
    email: str = ""
    name: str = ""
    identity_hash: str = ""


@dataclass(frozen=True)
class Visitor:
    id: str
    token: str
    verified_email: str  # "" when the website vouched for nobody
    claimed_email: str  # typed or with a wrong hash: shown to agents as unverified
    name: str


def visitor_group(inbox_id: int, visitor_id: str) -> str:
    return f"visitor.{inbox_id}.{visitor_id}"


def identity_hash(secret: str, email: str) -> str:
    """What the website computes on its server to vouch for its logged-in user."""
    return hmac.new(secret.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def origin_allowed(inbox, origin: str | None) -> bool:
    allowed = inbox.settings.get("allowed_origins") or []
    if not allowed:
        return True
    if not origin:
        return False
    parts = urlsplit(origin)
    # Our own pages (the demo and the settings' live preview) may always show the widget.
    own = urlsplit(settings.PUBLIC_BASE_URL)
    return f"{parts.scheme}://{parts.netloc}".lower() in {
        f"{own.scheme}://{own.netloc}".lower(),
        *(o.rstrip("/").lower() for o in allowed),
    }


def _sign_visitor(inbox, visitor_id: str, verified_email: str) -> str:
    return signing.dumps({"i": inbox.pk, "v": visitor_id, "e": verified_email}, salt=VISITOR_TOKEN_SALT)


def _unsign_visitor(inbox, token: str | None) -> dict | None:
    if not token:
        return None
    try:
        data = signing.loads(token, salt=VISITOR_TOKEN_SALT)
    except signing.BadSignature:
        return None
    return data if isinstance(data, dict) and data.get("i") == inbox.pk else None


class WebchatConnector(Connector):
    kind = "webchat"
    # Our own widget: files are opened from their signed links, so only their size is bounded.
    attachment_rules = AttachmentRules(max_files=10, max_bytes_each=10 * MB, max_bytes_total=20 * MB)

    def verify(self, *, inbox, request: WidgetHello) -> Visitor:
        """Check the origin, then tell who the visitor is; a new visitor gets a fresh id."""
        if not origin_allowed(inbox, request.origin):
            raise WebhookVerificationFailed(f"origin {request.origin!r} is not allowed for this widget")
        email = request.email.strip().lower()
        verified = bool(email) and any(
            signatures_match(identity_hash(secret, email), request.identity_hash) for secret in inbox.secrets
        )
        verified_email = email if verified else ""
        known = _unsign_visitor(inbox, request.visitor_token)
        # A token bound to another verified user (or to one, when none is vouched for now) belongs to
        # someone else who used this browser: start afresh rather than show them that history.
        if known and known.get("e", "") == verified_email:
            visitor_id = known["v"]
        else:
            visitor_id = uuid.uuid4().hex
        return Visitor(
            id=visitor_id,
            token=_sign_visitor(inbox, visitor_id, verified_email),
            verified_email=verified_email,
            claimed_email="" if verified else email,
            name=request.name.strip()[:200],
        )

    def raw_message(
        self, *, visitor: Visitor, client_id: str, text: str, files=(), context: dict | None = None
    ) -> tuple[str, bytes]:
        """Build the raw event a widget message is stored as, and its id: the files it carries go in
        it whole (base64), so that a message that cannot be stored at once is replayable with them."""
        event_id = f"{visitor.id}:{client_id}"
        body = {
            "id": event_id,
            "visitor": visitor.id,
            "verified_email": visitor.verified_email,
            "claimed_email": visitor.claimed_email,
            "name": visitor.name,
            "text": text,
            "sent_at": timezone.now().isoformat(),
            "context": context or {},
        }
        if files:
            body["files"] = [
                {"name": f.filename, "type": f.content_type, "content": base64.b64encode(f.content).decode()}
                for f in files
            ]
        return event_id, json.dumps(body).encode()

    def event_id(self, *, inbox, raw, content_type) -> str:
        return require_str(load_json_object(raw), "id", max_length=255)

    def parse(self, *, inbox, raw, content_type) -> list[InboundMessage]:
        data = load_json_object(raw)
        files = _files(data.get("files"))
        # A file may come without a word; anything else needs its text.
        text = "" if files and data.get("text") == "" else require_str(data, "text", max_length=MAX_TEXT_LENGTH)
        visitor_id = require_str(data, "visitor", max_length=64)
        verified_email = data.get("verified_email") or ""
        links = ()
        if verified_email:
            links = (IdentityClaim(kind="email", address=verified_email, display=verified_email, verified=True),)
        claims = {"unverified_email": data["claimed_email"]} if data.get("claimed_email") else {}
        return [
            InboundMessage(
                external_id=require_str(data, "id", max_length=255),
                sender=IdentityClaim(kind="webchat", address=visitor_id, display="Website visitor"),
                text=text,
                sent_at=utc_from_timestamp(data.get("sent_at")),
                customer_name=data.get("name") or "",
                verified_links=links,
                claims=claims,
                attachments=files,
                context=visitor_context(data.get("context")),
            )
        ]

    def send(self, outbound: OutboundMessage) -> str:
        if outbound.to.kind != "webchat":
            raise SendError(f"the website chat cannot reach a {outbound.to.kind} address", retryable=False)
        layer = get_channel_layer()
        async_to_sync(layer.group_send)(
            visitor_group(outbound.inbox.pk, outbound.to.address),
            {
                "type": "widget.message",
                "message": widget_message(
                    id=outbound.message_id,
                    sender="agent",
                    author=outbound.author_name,
                    text=outbound.text,
                    sent_at=outbound.sent_at,
                    files=[
                        {"name": a.filename, "type": a.content_type, "size": len(a.content), "url": a.url}
                        for a in outbound.attachments
                    ],
                    survey=widget_survey(outbound.survey.token, outbound.survey.labels) if outbound.survey else None,
                ),
            },
        )
        return f"webchat-out-{outbound.message_id}"


class FrameError(ParseError):
    """A widget frame we refuse, with the id of the message it carried (if any) for the widget."""

    def __init__(self, reason: str, frame_id: str | None = None):
        super().__init__(reason)
        self.frame_id = frame_id


def widget_message(
    *, id: int, sender: str, author: str, text: str, sent_at, client_id: str = "", files=(), survey=None, rating=None
) -> dict:
    """A message as the widget shows it. ``client_id`` lets a widget match its own unacknowledged one;
    ``files`` are {name, type, size, url}, each url a signed link. A satisfaction question carries its
    ``survey`` (buttons to answer it), and the visitor's answer its ``rating``."""
    message = {
        "id": id,
        "sender": sender,
        "author": author,
        "text": text,
        "sent_at": sent_at.isoformat(),
        "client_id": client_id,
        "files": list(files),
    }
    if survey:
        message["survey"] = survey
    if rating:
        message["rating"] = rating
    return message


def widget_survey(token: str, labels, rating: int | None = None, comment: str = "") -> dict:
    """What the widget needs to show a satisfaction question's buttons, and the answer once given."""
    return {"token": token, "labels": list(labels), "rating": rating, "comment": comment}


VISITOR_CONTEXT_KEYS = ("page", "title", "referrer", "browser", "time_zone", "language")


def visitor_context(value) -> dict[str, str]:
    """What the widget reports of the visitor's browser, kept to short strings of known keys."""
    if not isinstance(value, dict):
        return {}
    kept = {key: value[key][:500] for key in VISITOR_CONTEXT_KEYS if isinstance(value.get(key), str) and value[key]}
    # Agents open these as links: web addresses only, never a javascript: or data: one.
    for key in ("page", "referrer"):
        if key in kept and urlsplit(kept[key]).scheme not in ("http", "https"):
            del kept[key]
    return kept


def _files(value) -> tuple[AttachmentContent, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(f, dict) for f in value):
        raise ParseError("files must be a list of objects")
    try:
        return tuple(
            AttachmentContent(
                filename=require_str(f, "name", max_length=255),
                content_type=require_str(f, "type", max_length=120),
                content=base64.b64decode(require_str(f, "content", max_length=MAX_FILE_BASE64), validate=True),
            )
            for f in value
        )
    except (ValueError, TypeError) as exc:
        raise ParseError(f"a file is not base64: {exc}") from exc


def parse_client_frame(data) -> dict:
    """Check one decoded frame from the widget, or raise FrameError with a reason fit for the visitor."""
    if not isinstance(data, dict):
        raise FrameError("expected a JSON object")
    frame_id = data.get("id") if isinstance(data.get("id"), str) else None
    kind = data.get("type")
    if kind not in {"hello", "message", "receipt", "ping", "survey", "contact"}:
        raise FrameError(f"unknown frame type {kind!r}", frame_id)
    if kind == "contact" and (not isinstance(data.get("email"), str) or len(data["email"]) > 320):
        raise FrameError("a contact frame needs an email address")
    if kind == "survey":
        rating, comment = data.get("rating"), data.get("comment", "")
        if not isinstance(data.get("token"), str) or rating not in (1, 2, 3, 4, 5) or not isinstance(comment, str):
            raise FrameError("a survey answer needs its token, a rating from 1 to 5 and maybe a comment")
        if len(comment) > MAX_TEXT_LENGTH:
            raise FrameError(f"a comment may be at most {MAX_TEXT_LENGTH} characters")
    if kind == "receipt":
        ids = data.get("ids")
        if (
            data.get("status") not in RECEIPT_STATUSES
            or not isinstance(ids, list)
            or not all(isinstance(i, int) for i in ids)
        ):
            raise FrameError("a receipt needs a status (delivered or read) and a list of message ids")
    if kind == "message":
        if not frame_id or len(frame_id) > 64:
            raise FrameError("a message needs an id of at most 64 characters")
        text_value = data.get("text")
        if not isinstance(text_value, str) or not text_value.strip():
            raise FrameError("a message needs text", frame_id)
        if len(text_value) > MAX_TEXT_LENGTH:
            raise FrameError(f"a message may be at most {MAX_TEXT_LENGTH} characters", frame_id)
    return data
