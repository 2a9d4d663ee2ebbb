"""Email: raw RFC 5322 mail in (the ingest command, an MTA piping to the webhook, IMAP later),
replies out through Django's email backend (SMTP by default, any anymail provider by setting).

The webhook takes the raw mail as the body (``message/rfc822``), authenticated like anymail's
inbound webhooks: HTTP Basic auth with the inbox's secret as the password.
"""

from __future__ import annotations

import base64
import smtplib

from django.core.mail import EmailMultiAlternatives

from inbox.connectors.base import (
    Connector,
    IdentityClaim,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    ParseError,
    SendError,
    WebhookVerificationFailed,
    signatures_match,
)
from inbox.email_parsing import ParsedMail, parse_mail


def _parsed(raw: bytes) -> ParsedMail:
    if not raw.strip():
        raise ParseError("empty mail")
    parsed = parse_mail(raw)
    if not parsed.from_address or "@" not in parsed.from_address:
        raise ParseError(f"no usable sender address in From: {parsed.from_display!r}")
    return parsed


def basic_auth_password(request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(credentials).decode().partition(":")[2]
    except (ValueError, UnicodeDecodeError):
        return None


class EmailConnector(Connector):
    kind = "email"
    threads_by_reference = True

    def verify(self, *, inbox, request) -> None:
        given = basic_auth_password(request)
        if not any(signatures_match(secret, given) for secret in inbox.secrets):
            raise WebhookVerificationFailed("Basic auth with the inbox's secret is missing or wrong")

    def event_id(self, *, inbox, raw, content_type) -> str:
        return _parsed(raw).message_id[:255]

    def parse(self, *, inbox, raw, content_type) -> list[InboundMessage]:
        mail = _parsed(raw)
        return [
            InboundMessage(
                external_id=mail.message_id[:255],
                sender=IdentityClaim(kind="email", address=mail.from_address, display=mail.from_display),
                text=mail.text,
                html=mail.html,
                subject=mail.subject,
                sent_at=mail.sent_at,
                customer_name=mail.from_name,
                references=(*mail.references, *([mail.in_reply_to] if mail.in_reply_to else [])),
                automatic="bounce" if mail.is_bounce else "auto_reply" if mail.is_auto_reply else "",
                undeliverable=mail.failed_recipients,
                attachments=tuple(
                    InboundAttachment(filename=a.filename, content_type=a.content_type, content=a.content)
                    for a in mail.attachments
                ),
            )
        ]

    def send(self, outbound: OutboundMessage) -> str:
        if outbound.to.kind != "email":
            raise SendError(f"email cannot reach a {outbound.to.kind} address", retryable=False)
        address = outbound.inbox.settings.get("address")
        if not address:
            raise SendError("this email inbox has no address to send from (setting 'address')", retryable=False)
        domain = address.rpartition("@")[2]
        message_id = f"<reply-{outbound.message_id}@{domain}>"
        headers = {"Message-ID": message_id}
        if outbound.thread:
            # Mail clients thread on these; our own Message-IDs are stable, so replies find us.
            headers["In-Reply-To"] = f"<{outbound.thread[-1]}>"
            headers["References"] = " ".join(f"<{ref}>" for ref in outbound.thread[-20:])
        mail = EmailMultiAlternatives(
            subject=outbound.subject or "Re: your message",
            body=outbound.text,
            from_email=f"{outbound.author_name} <{address}>" if outbound.author_name else address,
            to=[outbound.to.display or outbound.to.address],
            headers=headers,
        )
        try:
            mail.send()
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendError(f"recipient refused: {exc.recipients}", retryable=False) from exc
        except smtplib.SMTPResponseException as exc:
            raise SendError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"mail server unreachable: {exc}", retryable=True) from exc
        return message_id.strip("<>")
