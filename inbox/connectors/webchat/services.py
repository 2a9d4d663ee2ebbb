"""What the chat widget asks of the inbox: a visitor's history, their messages and files, their receipts."""

import os

import filetype
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from conversations import csat
from conversations.business_hours import Schedule
from conversations.csat_question import LABELS
from conversations.intake import inbound_event_receive
from conversations.models import Message
from conversations.reports.figures import typical_first_response
from conversations.selectors import widget_history
from customers.models import ContactIdentity
from customers.services import customer_claims_record
from inbox.connectors.contract import AttachmentContent
from inbox.connectors.public_files import public_file_url
from inbox.connectors.webchat import ratelimit
from inbox.connectors.webchat.connector import Visitor, WebchatConnector, widget_message, widget_survey
from inbox.models import Inbox

connector = WebchatConnector()


def widget_message_of(message: Message) -> dict:
    inbound = message.direction == Message.Direction.INBOUND
    author = message.author
    survey = message.csat_question if hasattr(message, "csat_question") else None
    return widget_message(
        id=message.pk,
        sender="visitor" if inbound else "agent",
        author=(author.get_full_name() or author.get_username()) if author else "",
        text=message.text,
        sent_at=message.sent_at,
        # Inbound external ids are "<visitor>:<client id>".
        client_id=message.external_id.partition(":")[2] if inbound and message.external_id else "",
        files=[
            {"name": a.filename, "type": a.content_type, "size": a.size, "url": public_file_url(a.pk)}
            for a in message.attachments.all()
        ],
        survey=widget_survey(survey.token, [str(label) for label in LABELS], survey.rating, survey.comment)
        if survey
        else None,
        rating=message.rating,
    )


# How long "we usually reply within …" is trusted before it is worked out again.
TYPICAL_REPLY_CACHE_SECONDS = 600


def widget_availability(*, inbox: Inbox) -> dict:
    """What the widget says of the team: whether it is away now (its business hours), when it is back,
    and how soon it usually answers (the median first response of the last 30 days)."""
    schedule = Schedule.of(inbox)
    now = timezone.now()
    closed = bool(schedule) and not schedule.is_open(now)
    key = f"widget:typical-reply:{inbox.pk}"
    try:
        typical = cache.get(key)
    except Exception:  # noqa: BLE001 - the cache is a convenience: without it, work it out
        typical = None
    if typical is None:
        typical = typical_first_response(inbox_id=inbox.pk) or 0
        try:
            cache.set(key, typical, TYPICAL_REPLY_CACHE_SECONDS)
        except Exception:  # noqa: BLE001
            pass
    next_open = schedule.next_open(now) if closed else None
    return {
        "away": closed,
        "back_at": next_open.isoformat() if next_open else None,
        "reply_within": typical or None,
    }


def visitor_email_left(*, inbox: Inbox, visitor: Visitor, email: str) -> dict:
    """Outside hours, a visitor leaves an email to be answered at: kept on their customer as what they
    say (unverified, like any typed address), for an agent to write to."""
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        return refusal("", "bad_email", "Please check the email address.")
    identity = (
        ContactIdentity.objects.filter(kind=ContactIdentity.Kind.WEBCHAT, address=visitor.id)
        .select_related("customer")
        .first()
    )
    if identity is not None:
        customer_claims_record(customer=identity.customer, claims={"unverified_email": email, "reply_by": "email"})
    return {"type": "contact", "email": email}


def visitor_survey_answer(*, inbox: Inbox, visitor: Visitor, token: str, rating: int, comment: str) -> dict:
    """The visitor answered the satisfaction question with the widget's buttons (and maybe a comment)."""
    try:
        survey = csat.visitor_survey_answer(
            inbox=inbox, visitor_id=visitor.id, token=token, rating=rating, comment=comment
        )
    except csat.SurveyRefused as refused:
        return refusal("", "survey_refused", str(refused))
    return {"type": "survey", "token": token, "rating": survey.rating, "comment": survey.comment}


def visitor_history(*, inbox: Inbox, visitor: Visitor) -> list[dict]:
    messages = widget_history(inbox_id=inbox.pk, visitor_id=visitor.id, verified_email=visitor.verified_email)
    return [widget_message_of(m) for m in messages]


def visitor_message_receive(
    *, inbox: Inbox, visitor: Visitor, client_ip: str, client_id: str, text: str, files=(), context=None
) -> dict:
    """Take a visitor's message unless they (or their address) are flooding; return the widget's reply."""
    limits = {
        f"widget:visitor:{visitor.id}": settings.WIDGET_RATE_LIMIT_PER_VISITOR,
        f"widget:ip:{client_ip}": settings.WIDGET_RATE_LIMIT_PER_IP,
    }
    if not ratelimit.allow(limits, window_seconds=settings.WIDGET_RATE_LIMIT_WINDOW_SECONDS):
        return refusal(client_id, "rate_limited", "You are sending messages too quickly. Please wait a moment.")
    external_id, raw = connector.raw_message(
        visitor=visitor, client_id=client_id, text=text, files=files, context=context
    )
    messages = inbound_event_receive(inbox=inbox, external_id=external_id, raw=raw, content_type="application/json")
    if not messages:
        # Stored raw and marked failed for an admin to replay: not lost, but not shown yet.
        return {"type": "ack", "id": client_id, "message_id": None, "stored": True}
    return {"type": "ack", "id": client_id, "message_id": messages[0].pk, "message": widget_message_of(messages[0])}


def refusal(client_id: str, code: str, message: str) -> dict:
    return {"type": "error", "code": code, "id": client_id, "message": message}


# What a visitor may send, by what the content is (not by its name or the type the browser claims):
# pictures, PDFs and plain text. Never HTML or SVG, which could run script where they are opened.
UPLOAD_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}
UPLOAD_TYPES_SAID = "pictures (PNG, JPEG, GIF, WebP), PDF documents and text files"


def upload_checked(*, name: str, content: bytes) -> AttachmentContent | str:
    """The visitor's file as it will be stored, or why it is refused (a sentence for the visitor)."""
    limit = settings.WIDGET_UPLOAD_MAX_BYTES
    if len(content) > limit:
        return f"This file is larger than {limit // 1024 // 1024} MB; please send a smaller one."
    if not content:
        return "This file is empty."
    name = os.path.basename(name.replace("\\", "/")).strip()[:200] or "file"
    found = filetype.guess(content)
    content_type = found.mime if found else _plain_text(name, content)
    if content_type not in UPLOAD_TYPES | {"text/plain"}:
        return f"This kind of file cannot be sent here. You can send {UPLOAD_TYPES_SAID}."
    return AttachmentContent(filename=name, content_type=content_type, content=content)


TEXT_EXTENSIONS = ("", ".txt", ".csv", ".log", ".md")


def _plain_text(name: str, content: bytes) -> str:
    """Text, but not markup: an .html or .svg opened from an agent's downloads would run its script."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    markup = text.lstrip("\ufeff \t\r\n").startswith("<")
    return "" if markup or os.path.splitext(name.lower())[1] not in TEXT_EXTENSIONS else "text/plain"
