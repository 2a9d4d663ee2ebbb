"""Facebook Messenger through Meta's Messenger Platform, to the letter of its documented contract.

Inbound: the GET handshake (hub.mode, hub.verify_token, hub.challenge); POSTs signed in
``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the app secret), each carrying batches:
every ``entry[]`` and every ``messaging[]`` item is read. Outbound: the Send API, with the Graph
base URL and version as settings, so tests point them at a local stand-in.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden

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
    signatures_match,
    survey_payload,
    survey_payload_read,
    unreachable,
)
from inbox.connectors.parsing import download_limited, load_json_object

logger = logging.getLogger(__name__)

# Meta's standard messaging window, and the human agent tag's (https://developers.facebook.com/docs/messenger-platform/policy/policy-overview).
RESPONSE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
# Our own sends carry this in `metadata`; their echoes are recognised by it, never stored twice.
OUR_METADATA_PREFIX = "inbox-message:"
# Graph error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling).
MEDIA_KINDS = {"image", "audio", "video", "file"}
# Expired, revoked or invalid token, or a permission taken away: the page must be reconnected.
TOKEN_ERRORS = {190, 102, 200, 230}
# Rate limits and Meta's temporary failures: a retry later can succeed.
RETRYABLE_ERRORS = {1, 2, 4, 17, 32, 613, 1200, 80006}
# Errors about the person, by (code, subcode): https://developers.facebook.com/docs/messenger-platform/error-codes
RECIPIENT_ERRORS = {
    (551, None): "This person is not available on Messenger now (they may have blocked the page).",
    (10, 2018278): "Messenger's reply window has closed: ask them to write again, or answer on another channel.",
    (100, 2018001): "This person cannot be found on Messenger any more.",
    (200, 2018065): "This person has not allowed messages from the page.",
}


def graph_url(path: str) -> str:
    return f"{settings.GRAPH_API_BASE_URL}/{settings.GRAPH_API_VERSION}/{path.lstrip('/')}"


def signature_of(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _when(millis) -> datetime:
    try:
        return datetime.fromtimestamp(int(millis) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ParseError(f"bad timestamp {millis!r}") from exc


def _meta_host(host: str) -> bool:
    return any(host == allowed or host.endswith(f".{allowed}") for allowed in settings.MESSENGER_MEDIA_HOSTS)


def _attachment_text(attachment: dict) -> str:
    kind, payload = attachment.get("type", "file"), attachment.get("payload") or {}
    if kind == "location":
        coordinates = payload.get("coordinates") or {}
        return f"[Location] {coordinates.get('lat')}, {coordinates.get('long')}"
    if kind == "fallback":
        return f"[Link] {attachment.get('title') or ''} {attachment.get('url') or payload.get('url') or ''}".strip()
    return f"[{kind.capitalize()}] {payload.get('url', '')}".strip()


def _attachment_type(content_type: str) -> str:
    kind = content_type.partition("/")[0]
    return kind if kind in ("image", "video", "audio") else "file"


class MessengerConnector(Connector):
    kind = "messenger"
    # The Send API's attachments: 25 MB each (https://developers.facebook.com/docs/messenger-platform/send-messages).
    attachment_rules = AttachmentRules(max_files=10, max_bytes_each=25 * MB, max_bytes_total=50 * MB)

    def handshake(self, *, inbox, request) -> HttpResponse:
        """Meta's GET when the webhook is subscribed: echo the challenge if the verify token is ours."""
        expected = (inbox.credentials or {}).get("verify_token", "")
        given = request.GET.get("hub.verify_token", "")
        if request.GET.get("hub.mode") != "subscribe" or not expected or not signatures_match(expected, given):
            return HttpResponseForbidden("Verify token mismatch.")
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")

    def verify(self, *, inbox, request) -> None:
        secret = (inbox.credentials or {}).get("app_secret", "")
        given = request.headers.get("X-Hub-Signature-256", "")
        if not secret or not signatures_match(signature_of(secret, request.body), given):
            raise WebhookVerificationFailed("X-Hub-Signature-256 missing or wrong")

    def event_id(self, *, inbox, raw, content_type) -> str:
        # A batch has no id of its own; its content is its identity (Meta retries it byte for byte).
        load_json_object(raw)
        return f"batch:{hashlib.sha256(raw).hexdigest()}"

    def _items(self, inbox, raw: bytes) -> list[dict]:
        data = load_json_object(raw)
        if data.get("object") != "page" or not isinstance(data.get("entry"), list):
            raise ParseError("not a Messenger page event (object 'page' with entry[])")
        # One app's webhook serves all its pages: only this inbox's page's entries are ours.
        page_id = str(inbox.settings.get("page_id", ""))
        entries = [e for e in data["entry"] if isinstance(e, dict) and (not page_id or str(e.get("id")) == page_id)]
        return [item for entry in entries for item in (entry.get("messaging") or []) if isinstance(item, dict)]

    def parse(self, *, inbox, raw, content_type) -> list[InboundMessage]:
        messages, names = [], {}
        for item in self._items(inbox, raw):
            message, postback = item.get("message"), item.get("postback")
            if not message and not postback:
                continue  # delivery, read and the like: parse_status reads them
            sender, recipient = (item.get("sender") or {}).get("id"), (item.get("recipient") or {}).get("id")
            echo = bool(message and message.get("is_echo"))
            if echo and str(message.get("metadata", "")).startswith(OUR_METADATA_PREFIX):
                continue  # the echo of our own send: we have it already
            customer = recipient if echo else sender
            if not customer:
                raise ParseError("a messaging item without sender/recipient id")
            if postback:
                mid = postback.get("mid") or f"postback:{customer}:{item.get('timestamp')}"
                text, files = postback.get("title") or postback.get("payload", ""), {}
            else:
                mid, attachments = message.get("mid"), message.get("attachments") or []
                files = self._media(attachments)
                parts = [message.get("text", "")] + [
                    _attachment_text(a) for index, a in enumerate(attachments) if index not in files
                ]
                text = "\n".join(part for part in parts if part)
            if not mid:
                raise ParseError("a message without mid")
            quick_reply = str(((message or {}).get("quick_reply") or {}).get("payload") or "")
            messages.append(
                InboundMessage(
                    external_id=mid,
                    sender=IdentityClaim(kind="messenger", address=str(customer)),
                    text=text,
                    sent_at=_when(item.get("timestamp")),
                    customer_name="" if echo else self._profile_name(inbox, str(customer), names),
                    from_business=echo,  # typed in the page's own inbox: an agent's message
                    attachments=tuple(files.values()),
                    claims={"quick_reply": quick_reply} if quick_reply and not survey_payload_read(quick_reply) else {},
                    # A tap on a satisfaction question's quick reply names the survey and the rating.
                    survey_answer=survey_payload_read(quick_reply) if not echo else None,
                )
            )
        return messages

    def _media(self, attachments: list[dict]) -> dict[int, AttachmentContent]:
        """Images, audio, video and files fetched from Meta's CDN (and only from there), by their
        place in the list; one that cannot be fetched (links expire) stays in the text as its link."""
        files = {}
        for index, attachment in enumerate(attachments):
            url = str((attachment.get("payload") or {}).get("url", ""))
            parts = urlsplit(url)
            if attachment.get("type") not in MEDIA_KINDS or not _meta_host(parts.hostname or ""):
                continue
            try:
                content, content_type = download_limited(url, limit=settings.MESSENGER_MEDIA_MAX_BYTES)
            except ParseError as exc:
                logger.info("Messenger media kept as a link: %s", exc)
                continue
            name = parts.path.rsplit("/", 1)[-1][:100] or f"{attachment['type']}-{index}"
            files[index] = AttachmentContent(filename=name, content_type=content_type, content=content)
        return files

    def parse_status(self, *, inbox, raw, content_type) -> list[StatusUpdate]:
        updates = []
        for item in self._items(inbox, raw):
            customer = (item.get("sender") or {}).get("id", "")
            for field, status in (("delivery", "delivered"), ("read", "read")):
                report = item.get(field)
                if not report:
                    continue
                for mid in report.get("mids") or []:
                    updates.append(StatusUpdate(external_id=mid, status=status))
                if report.get("watermark"):
                    # Everything we sent this person up to the watermark is delivered (or read).
                    updates.append(
                        StatusUpdate(
                            external_id="", status=status, recipient=customer, watermark=_when(report["watermark"])
                        )
                    )
        return updates

    def _profile_name(self, inbox, psid: str, names: dict[str, str]) -> str:
        """The customer's name from the Graph API, fetched once: only for someone we do not know yet
        (and once per batch, which may hold several of their messages)."""
        from customers.models import ContactIdentity

        if psid in names:
            return names[psid]
        if ContactIdentity.objects.filter(kind="messenger", address=psid).exists():
            names[psid] = ""
            return ""
        token = (inbox.credentials or {}).get("page_access_token", "")
        try:
            response = requests.get(
                graph_url(psid), params={"fields": "first_name,last_name", "access_token": token}, timeout=5
            )
            profile = response.json() if response.ok else {}
        except (requests.RequestException, ValueError):
            profile = {}  # no name is better than no message
        names[psid] = " ".join(filter(None, (profile.get("first_name"), profile.get("last_name"))))
        return names[psid]

    def send(self, outbound: OutboundMessage) -> str:
        if outbound.to.kind != "messenger":
            raise SendError(
                f"Messenger cannot reach a {outbound.to.kind} address: answer on its own channel.",
                retryable=False,
                recipient=True,
            )
        # The text, then each file as a message of its own (the Send API takes one attachment a
        # message), which Meta fetches from its signed link. The text's id stands for the reply.
        parts = [{"text": outbound.text}] if outbound.text else []
        if outbound.survey and parts:
            # Meta's quick replies: one tap answers, and comes back with its payload.
            parts[0]["quick_replies"] = [
                {
                    "content_type": "text",
                    "title": f"{rating} ★ {label}"[:20],
                    "payload": survey_payload(outbound.survey.token, rating),
                }
                for rating, label in enumerate(outbound.survey.labels, start=1)
            ]
        parts += [
            {"attachment": {"type": _attachment_type(a.content_type), "payload": {"url": a.url, "is_reusable": False}}}
            for a in outbound.attachments
        ]
        window = self._messaging_type(outbound)
        metadata = f"{OUR_METADATA_PREFIX}{outbound.message_id}"
        ids = [
            self._post(
                outbound,
                {"recipient": {"id": outbound.to.address}, "message": {**part, "metadata": metadata}, **window},
            )
            for part in parts
        ]
        return ids[0]

    def _post(self, outbound: OutboundMessage, body: dict) -> str:
        token = (outbound.inbox.credentials or {}).get("page_access_token", "")
        try:
            response = requests.post(graph_url("me/messages"), params={"access_token": token}, json=body, timeout=15)
        except requests.ReadTimeout as exc:
            # Meta may have taken it and not answered: sending again could write to the customer twice.
            reason = plain_error(exc).replace(token, "[page access token]") if token else plain_error(exc)
            raise SendError(
                "Meta did not answer in time: the message may or may not have gone out. Check the "
                "conversation in the page's inbox before you send it again.",
                detail=reason,
                retryable=False,
            ) from None
        except requests.RequestException as exc:
            # Requests quotes the URL, and the page token travels in its query string (as Meta
            # documents): say what happened without it, and chain nothing that holds it.
            reason = plain_error(exc).replace(token, "[page access token]") if token else plain_error(exc)
            raise SendError(unreachable("Meta", exc), detail=reason, retryable=True) from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.ok and data.get("message_id"):
            return data["message_id"]
        raise self._error(response.status_code, data.get("error") or {})

    def setup_missing(self, inbox) -> str:
        credentials = inbox.credentials or {}
        if not inbox.settings.get("page_id") or not credentials.get("page_access_token"):
            return "Not connected: add the Facebook page's id and access token, then check the connection."
        if not credentials.get("app_secret"):
            return "Not connected: add the Meta app's secret, which proves that webhooks come from Meta."
        return ""

    def reply_blocked(self, *, inbox_settings: dict, opted_out_at, last_inbound_at) -> str:
        tagged = bool(inbox_settings.get("human_agent_tag"))
        if last_inbound_at and datetime.now(UTC) - last_inbound_at > (
            HUMAN_AGENT_WINDOW if tagged else RESPONSE_WINDOW
        ):
            return f"Messenger allows replies only within {'7 days' if tagged else '24 hours'} of their last message"
        return ""

    def _messaging_type(self, outbound: OutboundMessage) -> dict:
        since = datetime.now(UTC) - (outbound.last_inbound_at or datetime.min.replace(tzinfo=UTC))
        if since <= RESPONSE_WINDOW:
            return {"messaging_type": "RESPONSE"}
        if outbound.inbox.settings.get("human_agent_tag") and since <= HUMAN_AGENT_WINDOW:
            return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        raise SendError(
            "Messenger allows replies within 24 hours of the customer's last message"
            + (" (7 days with the human agent tag)" if outbound.inbox.settings.get("human_agent_tag") else "")
            + ": ask them to write again, or answer on another channel.",
            retryable=False,
            recipient=True,
        )

    def _error(self, status: int, error: dict) -> SendError:
        code, message = error.get("code"), error.get("message") or f"HTTP {status}"
        detail = f"Messenger error {code}: {message}"
        if code in TOKEN_ERRORS:
            return SendError(
                "Meta refused the page's access token: an admin must reconnect the page.",
                detail=detail,
                retryable=False,
                needs_reconnection=True,
            )
        recipient = RECIPIENT_ERRORS.get((code, error.get("error_subcode"))) or RECIPIENT_ERRORS.get((code, None))
        retryable = code in RETRYABLE_ERRORS or bool(error.get("is_transient")) or status >= 500
        sentence = "Meta is busy; the reply is tried again." if retryable else "Meta refused the message."
        return SendError(recipient or sentence, detail=detail, retryable=retryable, recipient=bool(recipient))
