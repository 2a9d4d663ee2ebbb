"""Raw RFC 5322 mail in, a normalized message out, whatever the sending client got wrong.

The standard library's ``email`` with ``policy.default`` does the parsing; this module adds what
real mail needs around it: charsets that are missing, wrong or unknown (strict decoding first,
then UTF-8, then charset-normalizer's guess, then replacement characters, never an exception), a
plain text for HTML-only mail, and the signs of automatic mail (auto-replies and bounces).
"""

from __future__ import annotations

import hashlib
import html
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formataddr, getaddresses, parseaddr, parsedate_to_datetime

import charset_normalizer
import nh3
from mailparser_reply import EmailReplyParser

from inbox.connectors.parsing import sanitize_html

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
AUTO_SUBMITTED_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")
BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
# Headers that name who a mail was delivered to: the reply token may sit in any of them.
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
# The languages whose "On … wrote:" and signature markers are recognised.
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "sv", "pl", "ja", "zh"]
# Quoted-text detection looks at the start of the text only: its cost grows with the square of the
# length on hostile input (seconds at 10k characters). What someone wrote this time comes first; a
# quote that starts later is simply not folded away.
QUOTE_SCAN_CHARS = 4_000
# A msg-id (RFC 5322): no spaces, controls or angle brackets; anything else is not an id we keep.
MSG_ID = re.compile(r"[^\s<>\x00-\x1f\x7f]{1,250}")
_reply_parser = EmailReplyParser(languages=REPLY_LANGUAGES)


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str = ""


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    from_name: str
    from_address: str  # normalized (lowercase)
    from_display: str  # as written
    recipients: tuple[str, ...]  # To, Cc and delivery headers, normalized
    subject: str
    sent_at: datetime
    text: str  # what the sender wrote this time: quoted history and signature hidden
    full_text: str  # the whole text, when it differs from ``text``
    html: str  # sanitized
    in_reply_to: str
    references: tuple[str, ...]
    attachments: tuple[ParsedAttachment, ...] = ()
    is_auto_reply: bool = False
    is_bounce: bool = False
    failed_recipients: tuple[tuple[str, str], ...] = ()  # (address, status) a bounce reports as failed
    notes: tuple[str, ...] = field(default_factory=tuple)  # what had to be repaired
    omitted: tuple[str, ...] = ()  # attachments left out, said to the agent
    to: tuple[str, ...] = ()  # the To header's addresses, as written ("Name <a@b.example>")
    cc: tuple[str, ...] = ()


def decode_bytes(payload: bytes, declared: str | None) -> tuple[str, str | None]:
    """Decode a body part; return the text and, when it needed repair, a note saying how."""
    for charset in filter(None, (declared, "utf-8")):
        try:
            text = payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
        return text, None if charset == declared or not declared else f"{declared}→utf-8"
    if declared:
        try:
            # A few stray bytes in otherwise fine text: keep the declared charset, mark the strays.
            text = payload.decode(declared, errors="replace")
            if text.count("\ufffd") <= max(1, len(text) // 200):
                return text, f"{declared}: a few undecodable bytes replaced"
        except LookupError:
            pass
    guess = charset_normalizer.from_bytes(payload).best()
    if guess is not None:
        return str(guess), f"{declared or 'no charset'}→{guess.encoding} (guessed)"
    return payload.decode("utf-8", errors="replace"), f"{declared or 'no charset'}: undecodable bytes replaced"


def _repair_boundary(message: EmailMessage, raw: bytes) -> EmailMessage:
    """Some senders declare one multipart boundary and use another: parse again with the one used."""
    declared = message.get_param("boundary") if message.get_content_maintype() == "multipart" else None
    if not declared or not isinstance(message.get_payload(), str):
        return message
    head, separator, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    used = re.search(rb"^--([^\r\n]{1,70}?)\r?$", body, re.M)
    if used is None or declared.encode() not in head:
        return message
    return message_from_bytes(
        head.replace(declared.encode(), used.group(1), 1) + separator + body, policy=policy.default
    )


def _header(message: EmailMessage, name: str) -> str:
    """A header as text; a header the policy cannot parse is returned raw rather than raising."""
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 - malformed headers must not stop the mail
        value = message.get_all(name, [""])[0] if hasattr(message, "get_all") else ""
    return str(value or "").strip()


def _part_text(part: EmailMessage, notes: list[str]) -> str:
    payload = part.get_payload(decode=True) or b""
    text, note = decode_bytes(payload, part.get_content_charset())
    if note:
        notes.append(note)
    return text


def _html_to_text(markup: str) -> str:
    """A readable plain text of an HTML-only mail: nh3 drops every tag (and scripts and styles
    with their content); block ends become line breaks first, so paragraphs survive."""
    markup = re.sub(r"(?i)<br\s*/?>|</(p|div|tr|li|h[1-6])>", "\n", markup)
    text = html.unescape(nh3.clean(markup, tags=set(), clean_content_tags={"script", "style", "head", "title"}))
    return re.sub(r"\n\s*\n\s*\n+", "\n\n", text).strip()


def split_quoted(text: str) -> tuple[str, str]:
    """Return (the new part, the whole text when a quote or signature was hidden, else "")."""
    if not text:
        return text, ""
    head = text[:QUOTE_SCAN_CHARS]
    try:
        replies = _reply_parser.read(head).replies
    except Exception:  # noqa: BLE001 - a heuristic that fails shows everything, never loses mail
        return text, ""
    visible = replies[0].body.strip() if replies else ""
    if not visible or visible == head.strip():
        return text, ""
    return visible, text


def _one_line(value: str) -> str:
    """Headers we reuse (the subject of our replies) must not carry line breaks or controls."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def _msg_ids(value: str) -> tuple[str, ...]:
    return tuple(ref for ref in (part.strip("<>") for part in value.split()) if MSG_ID.fullmatch(ref))


def _recipients(message: EmailMessage) -> tuple[str, ...]:
    values = [value for name in RECIPIENT_HEADERS for value in (message.get_all(name) or [])]
    try:
        pairs = getaddresses([str(value) for value in values])
    except Exception:  # noqa: BLE001 - a malformed address list is not worth losing the mail over
        pairs = []
    return tuple(dict.fromkeys(address.strip().lower() for _, address in pairs if "@" in address))


def address_list(message: EmailMessage, name: str) -> tuple[str, ...]:
    """A header's addresses, each as "Name <address>" (or the bare address), in their order."""
    try:
        pairs = getaddresses([str(value) for value in (message.get_all(name) or [])])
    except Exception:  # noqa: BLE001 - a malformed list costs the list, not the mail
        return ()
    shown = (shown_address(name.strip(), address.strip()) for name, address in pairs if "@" in address)
    return tuple(dict.fromkeys(shown))


def shown_address(name: str, address: str) -> str:
    """ "Name <address>" as mail programs write it; an address that is not ASCII, which formataddr
    refuses, keeps its name all the same."""
    if not name:
        return address
    try:
        return formataddr((name, address))
    except UnicodeError:
        return f"{name} <{address}>"


def mail_message_id(raw: bytes) -> str:
    """The Message-ID (or the derived one) from the headers alone: the key a mail is stored under
    before it is parsed in full."""
    return _message_id(BytesParser(policy=policy.default).parsebytes(raw, headersonly=True), raw)


def _message_id(message: EmailMessage, raw: bytes) -> str:
    given = _header(message, "Message-ID").strip("<> \t")
    given = given if MSG_ID.fullmatch(given) else ""
    # Without one, a stable id derived from the bytes: the same mail twice is still one message.
    return given or f"derived-{hashlib.sha256(raw).hexdigest()[:32]}@inbox.invalid"


def _sent_at(message: EmailMessage) -> datetime:
    try:
        when = parsedate_to_datetime(_header(message, "Date"))
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):  # missing, garbled or out of range
        return datetime.now(UTC)


def _is_auto_reply(message: EmailMessage) -> bool:
    auto_submitted = _header(message, "Auto-Submitted").lower()
    return (
        (auto_submitted not in ("", "no"))
        or any(_header(message, name) for name in AUTO_SUBMITTED_HEADERS)
        or _header(message, "Precedence").lower() in BULK_PRECEDENCE
    )


def _is_bounce(message: EmailMessage, from_address: str) -> bool:
    return (
        (
            message.get_content_type() == "multipart/report"
            and message.get_param("report-type", "").lower() == "delivery-status"
        )
        or from_address.split("@")[0] in ("mailer-daemon", "postmaster")
        or _header(message, "Return-Path") == "<>"
    )


def _failed_recipients(message: EmailMessage) -> tuple[tuple[str, str], ...]:
    """Read a delivery-status report (RFC 3464): the recipients whose delivery failed for good."""
    failed = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        text = (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")
        if not text:  # the policy parses the report's blocks into sub-messages
            text = "\n\n".join(str(block) for block in part.get_payload() if hasattr(block, "items"))
        for block in re.split(r"\r?\n\r?\n", text):
            fields = dict(
                (key.strip().lower(), value.strip())
                for key, _, value in (line.partition(":") for line in block.splitlines())
                if value
            )
            recipient = fields.get("final-recipient", "").partition(";")[2].strip().lower()
            status = fields.get("status", "")
            # 5.x.x is permanent; 4.x.x (a full mailbox) may still clear, so it marks nothing.
            if recipient and fields.get("action", "").lower() == "failed" and status.startswith("5"):
                failed.append((recipient, status))
    return tuple(failed)


def parse_mail(raw: bytes, *, max_attachment_bytes: int = MAX_ATTACHMENT_BYTES) -> ParsedMail:
    """Parse one raw mail. Never raises for bad content; only for something that is not mail at all."""
    message = _repair_boundary(message_from_bytes(raw, policy=policy.default), raw)
    notes: list[str] = []
    from_display = _header(message, "From")
    from_name, from_address = parseaddr(from_display)
    text_parts, html_parts, attachments, omitted = [], [], [], []
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        content_type = part.get_content_type()
        is_text = content_type in ("text/plain", "text/html")
        if disposition == "attachment" or (not is_text and (part.get_filename() or part.get("Content-ID"))):
            content = part.get_payload(decode=True) or b""
            if len(content) > max_attachment_bytes:
                omitted.append(
                    f"{part.get_filename() or 'attachment'} ({len(content) // 1024 // 1024} MB, "
                    f"over the {max_attachment_bytes // 1024 // 1024} MB limit)"
                )
                continue
            attachments.append(
                ParsedAttachment(
                    filename=part.get_filename() or f"attachment{mimetypes.guess_extension(content_type) or ''}",
                    content_type=content_type,
                    content=content,
                    content_id=str(part.get("Content-ID", "")).strip("<>"),
                )
            )
        elif content_type == "text/plain":
            text_parts.append(_part_text(part, notes))
        elif content_type == "text/html":
            html_parts.append(_part_text(part, notes))
    html_body = "\n".join(html_parts)
    text, full_text = split_quoted("\n".join(text_parts).strip() or _html_to_text(html_body))
    return ParsedMail(
        message_id=_message_id(message, raw),
        from_name=from_name,
        from_address=from_address.strip().lower(),
        from_display=from_display,
        recipients=_recipients(message),
        to=address_list(message, "To"),
        cc=address_list(message, "Cc"),
        subject=_one_line(_header(message, "Subject")),
        sent_at=_sent_at(message),
        text=text,
        full_text=full_text,
        html=sanitize_html(html_body),
        in_reply_to=next(iter(_msg_ids(_header(message, "In-Reply-To"))), ""),
        references=_msg_ids(_header(message, "References")),
        attachments=tuple(attachments),
        is_auto_reply=_is_auto_reply(message),
        is_bounce=_is_bounce(message, from_address.strip().lower()),
        failed_recipients=_failed_recipients(message),
        notes=tuple(notes),
        omitted=tuple(omitted),
    )
