"""The contract every channel connector fulfils.

Inbound: ``verify`` a request (raising ``WebhookVerificationFailed``), then ``parse`` the stored raw
bytes into normalized ``InboundMessage``s (and ``parse_status`` into ``StatusUpdate``s). Outbound:
``send`` an ``OutboundMessage`` and return the provider's id, or raise ``SendError`` saying whether a
retry can help. Before the agent writes, ``reply_blocked`` says what the provider would refuse, and
``setup_missing`` tells an admin what the inbox still lacks.

This module is a foundation: conversations and every channel package import it, and it imports
nothing of theirs. Which connector serves which kind is ``inbox.connectors.registry``.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.urls import reverse

if TYPE_CHECKING:
    from inbox.models import Inbox


class WebhookVerificationFailed(SuspiciousOperation):
    """The request is not from who it claims to be: refuse it and store nothing."""


class ParseError(ValueError):
    """The stored raw event cannot be understood; it stays stored, marked failed, replayable."""


class SendError(Exception):
    """A send that failed. Its text is a sentence for the agent (what failed, what to do); ``detail``
    is the technical part, shown on request."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        detail: str = "",
        recipient: bool = False,
        recipient_opted_out: bool = False,
        needs_reconnection: bool = False,
    ):
        super().__init__(message)
        self.retryable = retryable
        self.detail = detail
        # The trouble lies with this recipient (a bad number, a closed window), not with the inbox,
        # whose health stays as it is.
        self.recipient = recipient or recipient_opted_out
        # The provider says the recipient unsubscribed: record it on their identity.
        self.recipient_opted_out = recipient_opted_out
        # The provider refuses our credentials: the inbox must be reconnected by an admin.
        self.needs_reconnection = needs_reconnection

    @property
    def shown(self) -> str:
        """The sentence, then the detail on lines of its own (``failure_parts`` splits them again)."""
        return with_detail(str(self), self.detail)


@dataclass(frozen=True)
class IdentityClaim:
    kind: str
    address: str  # normalized
    display: str = ""
    verified: bool = False


@dataclass(frozen=True)
class AttachmentContent:
    filename: str
    content_type: str
    content: bytes
    content_id: str = ""  # an email's inline image, referenced from its HTML as cid:CONTENT_ID
    # Where a provider that fetches media itself (Twilio, Meta, the widget) finds it: a signed URL.
    url: str = ""


MB = 1024 * 1024


@dataclass(frozen=True)
class AttachmentRules:
    """What files a channel's replies may carry, by its provider's documented limits."""

    max_files: int
    max_bytes_each: int
    max_bytes_total: int
    types: tuple[str, ...] = ()  # content types (or "image/"-style prefixes) it takes; () takes any

    def refusal(self, files) -> str:
        """Why these files cannot go (a sentence for the agent), or "" if they can."""
        if len(files) > self.max_files:
            return f"At most {self.max_files} files can go in one message here."
        for upload in files:
            if self.types and not any(upload.content_type.startswith(t) for t in self.types):
                return f"“{upload.name}” cannot be sent on this channel ({upload.content_type or 'unknown type'})."
            if upload.size > self.max_bytes_each:
                return f"“{upload.name}” is larger than the {self.max_bytes_each // MB} MB this channel takes."
        if sum(upload.size for upload in files) > self.max_bytes_total:
            return f"These files add up to more than the {self.max_bytes_total // MB} MB this channel takes."
        return ""


@dataclass(frozen=True)
class InboundMessage:
    external_id: str
    sender: IdentityClaim
    text: str  # what the sender wrote this time
    sent_at: datetime  # aware, UTC
    html: str = ""  # already sanitized
    full_text: str = ""  # the whole text, when ``text`` hides quoted history or a signature
    subject: str = ""
    # Email's other recipients, as written: {"to": [...], "cc": [...]} (what Reply all answers).
    recipients: dict[str, tuple[str, ...]] = field(default_factory=dict)
    customer_name: str = ""
    # Where the sender is writing from, as their client reports it (a chat visitor's page, referrer,
    # browser, time zone and language): kept on their identity for agents to see.
    context: dict[str, str] = field(default_factory=dict)
    # Further identities the channel vouches for (e.g. a website's HMAC-verified email).
    verified_links: tuple[IdentityClaim, ...] = ()
    # Unverified hints shown to agents, never used to attach the sender to someone else.
    claims: dict[str, str] = field(default_factory=dict)
    attachments: tuple[AttachmentContent, ...] = ()
    # Ids of earlier messages this one answers (email's In-Reply-To and References), newest last.
    references: tuple[str, ...] = ()
    # A conversation's reply token found in the recipient address (email's reply+TOKEN@…).
    thread_token: str = ""
    automatic: str = ""  # "", "auto_reply", "bounce" or "own" (Message.Automatic)
    # Addresses a bounce reports as permanently undeliverable, with the reason.
    undeliverable: tuple[tuple[str, str], ...] = ()
    # SMS keywords: True for STOP (nothing may be sent any more), False for START, None otherwise.
    opt_out: bool | None = None
    # Sent by the business from the provider's own app (a Messenger echo): an agent's message to
    # ``sender``, the customer, recorded as sent.
    from_business: bool = False
    # The satisfaction survey this answers, and the rating, when the channel says so itself (a
    # Messenger quick reply's payload): (survey token, 1 to 5).
    survey_answer: tuple[str, int] | None = None


@dataclass(frozen=True)
class SurveyQuestion:
    """The satisfaction question a message asks (conversations.csat): each channel asks it its own way,
    with buttons, links, a digit to reply or quick replies, and each answer comes back to it."""

    token: str  # names the survey in a Messenger quick reply's payload and the widget's answer
    links: tuple[str, ...]  # the one-click link for each rating, 1 to 5: signed, single-use (email)
    labels: tuple[str, ...]  # what each rating means, 1 to 5 ("Very poor" … "Excellent")
    reply_hint: str  # how to answer by text ("Reply with a number from 1 (very poor) to 5 (excellent).")


SURVEY_PAYLOAD_PREFIX = "CSAT:"


def survey_payload(token: str, rating: int) -> str:
    """A quick reply's payload for one rating (Messenger returns it when the customer taps it)."""
    return f"{SURVEY_PAYLOAD_PREFIX}{token}:{rating}"


def survey_payload_read(payload: str) -> tuple[str, int] | None:
    if not payload.startswith(SURVEY_PAYLOAD_PREFIX):
        return None
    token, _, rating = payload[len(SURVEY_PAYLOAD_PREFIX) :].rpartition(":")
    return (token, int(rating)) if token and rating in {"1", "2", "3", "4", "5"} else None


@dataclass(frozen=True)
class StatusUpdate:
    external_id: str  # "" with a watermark
    status: str  # one of Message.Status
    detail: str = ""
    # Messenger's watermarks: every message to ``recipient`` sent up to this time has this status.
    recipient: str = ""
    watermark: datetime | None = None


@dataclass(frozen=True)
class OutboundMessage:
    message_id: int
    conversation_id: int
    inbox: Inbox
    to: IdentityClaim
    text: str
    html: str
    author_name: str
    sent_at: datetime
    subject: str = ""
    # Email: further addresses ("Name <a@b.example>"), {"to": [...], "cc": [...], "bcc": [...]}; a
    # forward ("forward" set) goes to its "to" alone, not to the customer.
    recipients: dict = field(default_factory=dict)
    # The provider ids of the conversation's earlier messages, oldest first (email threads on them).
    thread: tuple[str, ...] = ()
    thread_token: str = ""  # the conversation's reply token
    automatic: bool = False  # written by the system, not a person: mail says Auto-Submitted
    attachments: tuple[AttachmentContent, ...] = ()
    to_opted_out: bool = False  # the recipient texted STOP
    last_inbound_at: datetime | None = None  # the recipient's latest message on this inbox
    survey: SurveyQuestion | None = None  # the satisfaction question this message asks


class Connector:
    kind: ClassVar[str]
    # Email: a message that references none of ours starts a new conversation (a new thread), where
    # chat and SMS continue the customer's latest one.
    threads_by_reference: ClassVar[bool] = False
    # The files send() delivers with a message, by the provider's limits; None: none at all.
    attachment_rules: ClassVar[AttachmentRules | None] = None
    # Whether an agent may write first (email and SMS may; Messenger and the widget answer only).
    starts_conversations: ClassVar[bool] = False
    # What the webhook answers once the event is stored (Twilio wants TwiML): body, content type.
    webhook_response: ClassVar[tuple[bytes, str]] = (b"", "text/plain")

    def recipient(self, *, inbox: Inbox, raw: str, name: str = "") -> IdentityClaim:
        """Whom an agent writing first means by what they typed, or ValueError with a sentence."""
        raise ValueError("This channel cannot start a conversation.")

    def handshake(self, *, inbox: Inbox, request: Any):
        """Answer a provider's GET on the webhook URL (Meta's subscription check); None: not offered."""
        return None

    def verify(self, *, inbox: Inbox, request: Any) -> None:
        raise NotImplementedError

    def event_id(self, *, inbox: Inbox, raw: bytes, content_type: str) -> str:
        """Return the provider's id for a raw event: the key that makes retries harmless."""
        raise NotImplementedError

    def parse(self, *, inbox: Inbox, raw: bytes, content_type: str) -> list[InboundMessage]:
        raise NotImplementedError

    def parse_status(self, *, inbox: Inbox, raw: bytes, content_type: str) -> list[StatusUpdate]:
        return []

    def send(self, outbound: OutboundMessage) -> str:
        raise NotImplementedError

    def setup_missing(self, inbox: Inbox) -> str:
        """What the inbox still lacks before it can receive and send, said to an admin ("what to do"
        included); "" when nothing does. An inbox saved without its credentials is not healthy."""
        return ""

    def reply_blocked(
        self, *, inbox_settings: dict, opted_out_at: datetime | None, last_inbound_at: datetime | None
    ) -> str:
        """Why the provider would refuse a reply to this recipient now, said before the agent writes
        (``send`` checks again); "" if nothing stands in the way."""
        return ""


@dataclass(frozen=True)
class CheckResult:
    """One step of an admin's "Check connection" (each channel's ``checks.py``): plain text, never a secret."""

    name: str  # what was checked: "IMAP", "SMTP", "Twilio account", "Facebook page"
    ok: bool
    detail: str  # a sentence: what happened, and what to do about it
    # The provider refused the credentials themselves (not a network blip): reconnect.
    credentials_refused: bool = False
    technical: str = ""  # the library's own words, shown on request


# An admin waits for a check's answer.
CHECK_TIMEOUT_SECONDS = 10


def plain_error(exc: BaseException) -> str:
    """A library's error as short plain text, for the technical detail (IMAP errors come as bytes)."""
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return f"{type(exc).__name__}: {str(text)[:300]}"


def with_detail(sentence: str, detail: str) -> str:
    """What people are shown of a failure, stored in one text: the sentence, then the detail."""
    return f"{sentence}\n{detail}" if detail else sentence


def unreachable(service: str, exc: BaseException) -> str:
    """Why ``service`` could not be reached, as a sentence a person can act on.

    HTTP libraries wrap the socket's error (requests → urllib3 → socket), in ``args`` as often as in
    ``__cause__``: the whole chain is read, by type and, for wrapped ones, by name.
    """
    chain, seen = [exc], set()
    while chain and len(seen) < 20:
        error = chain.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        names = type(error).__name__
        if isinstance(error, socket.gaierror) or "NameResolution" in names:
            return f"{service} could not be found: check this server's internet connection and DNS."
        if isinstance(error, ConnectionRefusedError):
            return f"{service} refused the connection: check its address and port."
        if isinstance(error, TimeoutError) or "Timeout" in names:
            return f"{service} did not answer in time."
        if isinstance(error, ssl.SSLError) or "SSLError" in names:
            return f"No secure connection could be made to {service}: check its address and security setting."
        chain += [e for e in (error.__cause__, error.__context__, getattr(error, "reason", None)) if e is not None]
        chain += [arg for arg in error.args if isinstance(arg, BaseException)]
    return f"{service} could not be reached."


def request_too_large(request) -> bool:
    """Whether a webhook's body is over ``WEBHOOK_MAX_BODY_BYTES``, by its Content-Length, before it is read."""
    return int(request.META.get("CONTENT_LENGTH") or 0) > settings.WEBHOOK_MAX_BODY_BYTES


def webhook_url(inbox: Inbox) -> str:
    """The public address a provider posts this inbox's events to (and signs, for Twilio)."""
    return f"{settings.PUBLIC_BASE_URL}{reverse('inbound_webhook', args=[inbox.kind, inbox.public_token])}"


def unparsed_event_id(raw: bytes) -> str:
    """The key of a raw event whose own id could not be read: its content, so a retry is one event."""
    return f"unparsed:{hashlib.sha256(raw).hexdigest()}"


def signatures_match(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())
