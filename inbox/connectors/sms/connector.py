"""SMS and MMS through Twilio, to the letter of its documented contract.

Inbound: Twilio posts form fields to our webhook, signed in ``X-Twilio-Signature`` over the URL it
called and the sorted fields (checked with the twilio library's RequestValidator); we answer at once
with empty TwiML. The same URL takes the status callbacks of our sends. Outbound goes through the
twilio library; its base URL is a setting (``TWILIO_API_BASE_URL``), so tests point it at a local
stand-in that speaks Twilio's API.
"""

from __future__ import annotations

import logging
import mimetypes
from urllib.parse import parse_qs, urlsplit

import phonenumbers
import requests
from django.conf import settings
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

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
    StatusUpdate,
    WebhookVerificationFailed,
    plain_error,
    unreachable,
    webhook_url,
    with_detail,
)
from inbox.connectors.parsing import download_limited

logger = logging.getLogger(__name__)

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Twilio's own opt-out keywords (Advanced Opt-Out's defaults), and the ones that opt back in.
OPT_OUT = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
OPT_IN = {"start", "unstop", "yes", "optin"}
# Twilio's message statuses, as ours; "accepted"/"scheduled" say nothing new, "receiving" is inbound.
STATUSES = {
    "queued": "sent",  # handed to Twilio: ours is "sent" once Twilio took it
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}
# "Attempt to send to unsubscribed recipient" (https://www.twilio.com/docs/api/errors/21610).
OPTED_OUT_ERROR = 21610
# Twilio's errors about the recipient, not our account (https://www.twilio.com/docs/api/errors).
RECIPIENT_ERRORS = {
    21211: "This phone number is not valid.",
    21610: "This number opted out (STOP): they must text START first.",
    21612: "Twilio cannot send to this number from this inbox's number.",
    21614: "This number cannot receive SMS (it is not a mobile number).",
    21408: "Sending to this country is not enabled on the Twilio account.",
}
MEDIA_TYPES = ("image/", "audio/", "video/", "application/pdf", "text/vcard", "text/x-vcard")


def normalize_phone(raw: str, region: str | None = None) -> str:
    """E.164, or ParseError: one number, one spelling, whatever the carrier sent."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ParseError(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_possible_number(number):
        raise ParseError(f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _fields(raw: bytes) -> dict[str, str]:
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise ParseError("not UTF-8 form data") from exc
    return {key: values[-1] for key, values in parsed.items()}


def public_url(request) -> str:
    """The URL as Twilio called it: our public base URL, not what a proxy passed on."""
    if settings.PUBLIC_BASE_URL:
        return f"{settings.PUBLIC_BASE_URL}{request.get_full_path()}"
    return request.build_absolute_uri()


def twilio_client(inbox, *, timeout: float = 30) -> Client:
    credentials = inbox.credentials or {}
    if not credentials.get("account_sid") or not credentials.get("auth_token"):
        raise SendError(
            "This SMS inbox has no Twilio Account SID and Auth Token: an admin adds them in its settings.",
            retryable=False,
        )
    # The library waits forever by default: a Twilio that never answers would hold a worker (or an
    # admin's request) for good.
    client = Client(
        credentials["account_sid"], credentials["auth_token"], http_client=TwilioHttpClient(timeout=timeout)
    )
    client.api.base_url = settings.TWILIO_API_BASE_URL
    return client


class SmsConnector(Connector):
    kind = "sms"
    webhook_response = (EMPTY_TWIML, "text/xml")
    starts_conversations = True
    # Twilio's MMS: at most 10 media and 5 MB a message (https://www.twilio.com/docs/messaging/guides/accepted-mime-types).
    attachment_rules = AttachmentRules(max_files=10, max_bytes_each=5 * MB, max_bytes_total=5 * MB, types=MEDIA_TYPES)

    def recipient(self, *, inbox, raw: str, name: str = "") -> IdentityClaim:
        # A number without its country code is read as one of the inbox's own country.
        own = inbox.settings.get("from_number", "")
        region = phonenumbers.region_code_for_number(phonenumbers.parse(own)) if own.startswith("+") else None
        try:
            return IdentityClaim(kind="phone", address=normalize_phone(raw, region))
        except ParseError:
            raise ValueError(f"“{raw}” is not a phone number (write it with its country code, like +44…).") from None

    def setup_missing(self, inbox) -> str:
        credentials = inbox.credentials or {}
        if not credentials.get("account_sid") or not credentials.get("auth_token"):
            return "Not connected: add the Twilio Account SID and Auth Token, then check the connection."
        if not inbox.settings.get("from_number") and not inbox.settings.get("messaging_service_sid"):
            return "Not connected: add the number (or Messaging Service) replies are sent from."
        return ""

    def reply_blocked(self, *, inbox_settings: dict, opted_out_at, last_inbound_at) -> str:
        return "they opted out (texted STOP) and must text START first" if opted_out_at else ""

    def verify(self, *, inbox, request) -> None:
        if request.content_type != "application/x-www-form-urlencoded":
            # Twilio posts form-encoded; the fields checked must be the fields parse() reads.
            raise WebhookVerificationFailed("Twilio webhooks are application/x-www-form-urlencoded")
        token = (inbox.credentials or {}).get("auth_token", "")
        signature = request.headers.get("X-Twilio-Signature", "")
        # validate() compares in constant time; the fields as Twilio sent them, every value.
        if (
            not token
            or not signature
            or not RequestValidator(token).validate(public_url(request), request.POST, signature)
        ):
            raise WebhookVerificationFailed("X-Twilio-Signature missing or wrong")

    def event_id(self, *, inbox, raw, content_type) -> str:
        fields = _fields(raw)
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        if not sid:
            raise ParseError("no MessageSid")
        status = fields.get("MessageStatus")
        # A status callback is its own event: one per (message, status), so each one is applied once.
        return f"{sid}:{status}" if status and status != "received" else sid

    def parse(self, *, inbox, raw, content_type) -> list[InboundMessage]:
        fields = _fields(raw)
        if fields.get("MessageStatus", "received") not in ("received", "receiving"):
            return []  # a status callback of ours: parse_status reads it
        if not fields.get("From") or not (fields.get("MessageSid") or fields.get("SmsSid")):
            raise ParseError("neither an incoming message nor a status callback")
        sender = normalize_phone(fields["From"])
        body = fields.get("Body", "")
        keyword = body.strip().lower()
        media, left_out = self._media(inbox, fields)
        opt_out = fields.get("OptOutType", "").upper()
        opted = (
            True
            if opt_out == "STOP" or keyword in OPT_OUT
            else False
            if opt_out == "START" or keyword in OPT_IN
            else None
        )
        return [
            InboundMessage(
                external_id=fields.get("MessageSid") or fields["SmsSid"],
                sender=IdentityClaim(kind="phone", address=sender, display=fields["From"]),
                text=body + "".join(f"\n\n[Media left out: {reason}]" for reason in left_out),
                sent_at=timezone.now(),  # Twilio sends no time with an inbound message
                attachments=tuple(media),
                opt_out=opted,
            )
        ]

    def _media(self, inbox, fields: dict[str, str]) -> tuple[list[AttachmentContent], list[str]]:
        """MMS media, fetched from Twilio only, with the account's credentials; media that cannot be
        taken is named in the message instead: the text itself is never lost over a picture."""
        credentials = inbox.credentials or {}
        allowed_host = urlsplit(settings.TWILIO_API_BASE_URL).netloc
        media, left_out = [], []
        for index in range(min(int(fields.get("NumMedia") or 0), 10)):
            url, declared = fields.get(f"MediaUrl{index}", ""), fields.get(f"MediaContentType{index}", "")
            if urlsplit(url).netloc != allowed_host:
                left_out.append(f"{declared or 'media'} at {url!r}, which is not Twilio's ({allowed_host})")
                continue
            if not declared.startswith(MEDIA_TYPES):
                left_out.append(f"{declared or 'media'} is not a type we take")
                continue
            try:
                content = download_limited(
                    url,
                    limit=settings.SMS_MEDIA_MAX_BYTES,
                    auth=(credentials.get("account_sid", ""), credentials.get("auth_token", "")),
                )[0]
            except ParseError as exc:
                left_out.append(f"{declared}: {exc}")
                continue
            name = f"{fields.get('MessageSid', 'mms')}-{index}{mimetypes.guess_extension(declared) or ''}"
            media.append(AttachmentContent(filename=name, content_type=declared, content=content))
        return media, left_out

    def parse_status(self, *, inbox, raw, content_type) -> list[StatusUpdate]:
        fields = _fields(raw)
        status = STATUSES.get(fields.get("MessageStatus", ""))
        if status is None:
            return []
        code = fields.get("ErrorCode", "")
        # Twilio reports a failed delivery with its error code (30003 unreachable, 30005 unknown…).
        detail = with_detail("The phone network could not deliver it.", f"Twilio error {code}") if code else ""
        return [StatusUpdate(external_id=fields["MessageSid"], status=status, detail=detail)]

    def send(self, outbound: OutboundMessage) -> str:
        if outbound.to.kind != "phone":
            raise SendError(
                f"SMS cannot reach a {outbound.to.kind} address: answer on its own channel.",
                retryable=False,
                recipient=True,
            )
        if outbound.to_opted_out:
            raise SendError(
                "This number opted out (STOP): they must text START first.", retryable=False, recipient=True
            )
        inbox = outbound.inbox
        sender = {}
        if inbox.settings.get("messaging_service_sid"):
            sender["messaging_service_sid"] = inbox.settings["messaging_service_sid"]
        elif inbox.settings.get("from_number"):
            sender["from_"] = inbox.settings["from_number"]
        else:
            raise SendError(
                "This SMS inbox has no number to send from: an admin sets one in its settings.", retryable=False
            )
        try:
            # Twilio fetches each file from its signed link: an MMS.
            media = {"media_url": [a.url for a in outbound.attachments]} if outbound.attachments else {}
            sent = twilio_client(inbox, timeout=settings.TWILIO_SEND_TIMEOUT_SECONDS).messages.create(
                to=outbound.to.address, body=_body(outbound), status_callback=webhook_url(inbox), **sender, **media
            )
        except TwilioRestException as exc:
            # Twilio's 4xx say what no retry changes (an unsubscribed number, a bad one); 429 and 5xx pass.
            raise SendError(
                RECIPIENT_ERRORS.get(exc.code, "Twilio refused the message."),
                detail=f"Twilio error {exc.code}: {exc.msg}",
                retryable=exc.status == 429 or exc.status >= 500,
                recipient=exc.code in RECIPIENT_ERRORS,
                recipient_opted_out=exc.code == OPTED_OUT_ERROR,
            ) from exc
        except requests.ReadTimeout as exc:
            # Twilio may have taken it and not answered: sending again could text the customer twice.
            raise SendError(OUTCOME_UNKNOWN, detail=plain_error(exc), retryable=False) from exc
        except (TwilioException, requests.RequestException) as exc:
            raise SendError(unreachable("Twilio", exc), detail=plain_error(exc), retryable=True) from exc
        return sent.sid


OUTCOME_UNKNOWN = (
    "Twilio did not answer in time: the text may or may not have gone out. Check with the customer, or in "
    "Twilio's message log, before you send it again."
)


def _body(outbound: OutboundMessage) -> str:
    """The text, and for a satisfaction question how to answer it: a digit, read back by conversations.csat."""
    return f"{outbound.text}\n{outbound.survey.reply_hint}" if outbound.survey else outbound.text
