"""Email: raw RFC 5322 mail in (the ingest command, an MTA piping to the webhook, IMAP later),
replies out through Django's email backend (SMTP by default, any anymail provider by setting).

The webhook takes the raw mail as the body (``message/rfc822``), authenticated like anymail's
inbound webhooks: HTTP Basic auth with the inbox's secret as the password.
"""

from __future__ import annotations

import base64
import html
import re
import smtplib
from email import encoders
from email.mime.base import MIMEBase
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.core.mail.backends.smtp import EmailBackend
from django.core.validators import validate_email
from django.utils.crypto import salted_hmac

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
    SurveyQuestion,
    WebhookVerificationFailed,
    plain_error,
    signatures_match,
    unreachable,
)
from inbox.connectors.email.parsing import ParsedMail, mail_message_id, parse_mail, shown_address
from inbox.connectors.email.providers import PAYLOAD_CONTENT_TYPE, stored_payload_mails


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _refusals(recipients: dict) -> str:
    """smtplib's refusals ({address: (code, bytes)}) as the server's own words."""
    return "; ".join(f"{address}: {code} {_text(reply)}" for address, (code, reply) in recipients.items())


def _inline_part(attachment: AttachmentContent) -> MIMEBase:
    """A pasted image, shown in the mail's body where its HTML says cid:CONTENT_ID."""
    main, _, sub = attachment.content_type.partition("/")
    part = MIMEBase(main or "application", sub or "octet-stream")
    part.set_payload(attachment.content)
    encoders.encode_base64(part)
    part.add_header("Content-ID", f"<{attachment.content_id}>")
    part.add_header("Content-Disposition", "inline", filename=attachment.filename)
    return part


def _parsed(raw: bytes) -> ParsedMail:
    if not raw.strip():
        raise ParseError("empty mail")
    parsed = parse_mail(raw, max_attachment_bytes=settings.EMAIL_ATTACHMENT_MAX_BYTES)
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


def _token_address_pattern(inbox) -> re.Pattern | None:
    """reply+TOKEN@<reply domain>, or the inbox's own address plus-addressed: support+TOKEN@…"""
    forms = []
    if reply_domain := inbox.settings.get("reply_domain", "").strip().lower():
        forms.append(rf"reply\+(?P<a>[0-9a-f]{{8,32}})@{re.escape(reply_domain)}")
    local, _, domain = inbox.settings.get("address", "").strip().lower().partition("@")
    if local and domain:
        forms.append(rf"{re.escape(local)}\+(?P<b>[0-9a-f]{{8,32}})@{re.escape(domain)}")
    return re.compile("|".join(f"^(?:{form})$" for form in forms)) if forms else None


def reply_address(inbox, token: str) -> str:
    """Where replies should go so that they find their conversation whatever the client drops."""
    if reply_domain := inbox.settings.get("reply_domain", "").strip():
        return f"reply+{token}@{reply_domain}"
    return ""


def thread_token(inbox, recipients) -> str:
    pattern = _token_address_pattern(inbox)
    for address in recipients if pattern else ():
        if match := pattern.match(address):
            return match.group("a") or match.group("b")
    return ""


def reply_all_addresses(inbox, recipients: dict, customer_address: str) -> list[str]:
    """Everyone a customer's mail was also to or copied to, for Reply all: never ourselves (the
    inbox's address, its reply addresses) nor the customer, who is answered anyway."""
    addresses = []
    for written in [*recipients.get("to", []), *recipients.get("cc", [])]:
        address = parseaddr(written)[1].strip().lower()
        if address and address != customer_address and not is_own_address(inbox, address):
            addresses.append(written)
    return list(dict.fromkeys(addresses))


def is_own_address(inbox, address: str) -> bool:
    own = inbox.settings.get("address", "").strip().lower()
    reply_domain = inbox.settings.get("reply_domain", "").strip().lower()
    return bool(address) and (address == own or bool(reply_domain) and address.endswith(f"@{reply_domain}"))


def _automatic(inbox, mail: ParsedMail) -> str:
    if mail.is_bounce:
        return "bounce"
    if is_own_address(inbox, mail.from_address):
        # Our own mail coming back (a copy, a forward, a loop): recorded, never answered.
        return "own"
    return "auto_reply" if mail.is_auto_reply else ""


def our_message_id(message_pk: int, domain: str) -> str:
    """Ours, stable (a retried send reuses it) and unguessable: a stranger who could predict the
    next one could claim it first with a mail of their own."""
    tag = salted_hmac("email-message-id", str(message_pk)).hexdigest()[:16]
    return f"reply-{message_pk}.{tag}@{domain}"


def text_to_html(text: str) -> str:
    return f'<div style="white-space: pre-wrap">{html.escape(text)}</div>'


def smtp_backend(smtp: dict, *, timeout: float = 30) -> EmailBackend:
    """Django's SMTP backend on an inbox's own server (``credentials["smtp"]``), for its replies and its check."""
    security = smtp.get("security", "starttls")
    return EmailBackend(
        host=smtp["host"],
        port=int(smtp.get("port") or (465 if security == "ssl" else 587)),
        username=smtp.get("username") or "",
        password=smtp.get("password") or "",
        use_tls=security == "starttls",
        use_ssl=security == "ssl",
        timeout=timeout,
        fail_silently=False,
    )


class EmailConnector(Connector):
    kind = "email"
    threads_by_reference = True
    # What common mail servers accept: about 25 MB a mail, before base64.
    attachment_rules = AttachmentRules(max_files=20, max_bytes_each=20 * MB, max_bytes_total=20 * MB)
    starts_conversations = True

    def recipient(self, *, inbox, raw: str, name: str = "") -> IdentityClaim:
        written_name, address = parseaddr(raw)
        address = address.strip().lower()
        try:
            validate_email(address)
        except ValidationError:
            raise ValueError(f"“{raw}” is not an email address.") from None
        name = name or written_name
        return IdentityClaim(kind="email", address=address, display=shown_address(name, address))

    def verify(self, *, inbox, request) -> None:
        given = basic_auth_password(request)
        if not any(signatures_match(secret, given) for secret in inbox.secrets):
            raise WebhookVerificationFailed("Basic auth with the inbox's secret is missing or wrong")

    def event_id(self, *, inbox, raw, content_type) -> str:
        if not raw.strip():
            raise ParseError("empty mail")
        return mail_message_id(raw)[:255]

    def parse(self, *, inbox, raw, content_type) -> list[InboundMessage]:
        if content_type.startswith(PAYLOAD_CONTENT_TYPE):
            return [self._inbound(inbox, _parsed(mail)) for mail in stored_payload_mails(inbox, raw, content_type)]
        return [self._inbound(inbox, _parsed(raw))]

    def _inbound(self, inbox, mail: ParsedMail) -> InboundMessage:
        left_out = "".join(f"\n\n[Attachment left out: {item}]" for item in mail.omitted)
        return InboundMessage(
            external_id=mail.message_id[:255],
            sender=IdentityClaim(kind="email", address=mail.from_address, display=mail.from_display),
            text=mail.text + left_out,
            full_text=mail.full_text,
            html=mail.html,
            subject=mail.subject,
            recipients={key: value for key, value in (("to", mail.to), ("cc", mail.cc)) if value},
            sent_at=mail.sent_at,
            customer_name=mail.from_name,
            references=(*mail.references, *([mail.in_reply_to] if mail.in_reply_to else [])),
            thread_token=thread_token(inbox, mail.recipients),
            automatic=_automatic(inbox, mail),
            undeliverable=mail.failed_recipients,
            attachments=tuple(
                AttachmentContent(
                    filename=a.filename, content_type=a.content_type, content=a.content, content_id=a.content_id
                )
                for a in mail.attachments
            ),
        )

    def send(self, outbound: OutboundMessage) -> str:
        if outbound.to.kind != "email":
            raise SendError(
                f"Email cannot reach a {outbound.to.kind} address: answer on its own channel.",
                retryable=False,
                recipient=True,
            )
        address = outbound.inbox.settings.get("address")
        if not address:
            raise SendError(
                "This email inbox has no address to send from: an admin sets one in its settings.", retryable=False
            )
        message_id = f"<{our_message_id(outbound.message_id, address.rpartition('@')[2])}>"
        headers = {"Message-ID": message_id}
        if outbound.thread:
            # Mail clients thread on these; our own Message-IDs are stable, so replies find us.
            headers["In-Reply-To"] = f"<{outbound.thread[-1]}>"
            headers["References"] = " ".join(f"<{ref}>" for ref in outbound.thread[-20:])
        if outbound.automatic:
            headers["Auto-Submitted"] = "auto-replied"  # RFC 3834: other robots must not answer it
        extra = outbound.recipients
        # The address we know, with the name they gave: never their raw From header again. A forward
        # goes to the addresses the agent gave instead.
        customer = (
            [] if extra.get("forward") else [formataddr((parseaddr(outbound.to.display)[0], outbound.to.address))]
        )
        text, body_html = outbound.text, outbound.html or text_to_html(outbound.text)
        if outbound.survey:
            text, body_html = survey_text(text, outbound.survey), body_html + survey_html(outbound.survey)
        mail = EmailMultiAlternatives(
            subject=outbound.subject or "Re: your message",
            body=text,
            from_email=formataddr((outbound.author_name, address)) if outbound.author_name else address,
            to=customer + list(extra.get("to", [])),
            cc=list(extra.get("cc", [])),
            bcc=list(extra.get("bcc", [])),
            reply_to=[token] if (token := reply_address(outbound.inbox, outbound.thread_token)) else None,
            headers=headers,
            # The inbox's own SMTP server when it has one, else the site's mail settings.
            connection=smtp_backend(smtp)
            if (smtp := (outbound.inbox.credentials or {}).get("smtp", {})).get("host")
            else None,
        )
        mail.attach_alternative(body_html, "text/html")
        for attachment in outbound.attachments:
            if attachment.content_id:
                mail.attach(_inline_part(attachment))
            else:
                mail.attach(attachment.filename, attachment.content, attachment.content_type)
        try:
            mail.send()
        except smtplib.SMTPRecipientsRefused as exc:
            # 4xx (greylisting, a full mailbox) may clear later; 5xx will not.
            temporary = all(code < 500 for code, _ in exc.recipients.values())
            raise SendError(
                "The mail server refused this address" + (" for now; it is tried again." if temporary else "."),
                detail=_refusals(exc.recipients),
                retryable=temporary,
                recipient=True,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise SendError(
                "The mail server refused the mail" + ("; it is tried again." if exc.smtp_code < 500 else "."),
                detail=f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}",
                retryable=exc.smtp_code < 500,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(unreachable("The mail server", exc), detail=plain_error(exc), retryable=True) from exc
        except (BadHeaderError, ValueError) as exc:  # the same mail would fail the same way again
            raise SendError("This mail could not be built.", detail=plain_error(exc), retryable=False) from exc
        return message_id.strip("<>")


def survey_text(text: str, survey: SurveyQuestion) -> str:
    """The question's plain-text part: one link a rating, the best first."""
    lines = [f"{rating} – {survey.labels[rating - 1]}: {survey.links[rating - 1]}" for rating in range(5, 0, -1)]
    return f"{text}\n\n" + "\n".join(lines)


def survey_html(survey: SurveyQuestion) -> str:
    """A row of one-click ratings, drawn with table cells and attributes (mail clients drop stylesheets)."""
    cells = "".join(
        f'<td align="center" style="padding:4px"><a href="{html.escape(survey.links[rating - 1])}" '
        f'style="display:inline-block;min-width:44px;padding:8px 10px;border:1px solid #c8ccd4;border-radius:6px;'
        f'color:#1f2937;text-decoration:none;font-size:16px">{rating}<br>'
        f"<small>{html.escape(survey.labels[rating - 1])}</small></a></td>"
        for rating in range(1, 6)
    )
    return f'<table role="presentation" cellspacing="0" cellpadding="0"><tr>{cells}</tr></table>'
