"""The one inbound HTTP path of every webhook connector: verify, store raw, answer, then process."""

import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from conversations.intake import inbound_event_process_task, inbound_event_record, inbound_event_record_failed
from inbox.connectors.contract import ParseError, WebhookVerificationFailed, unparsed_event_id
from inbox.connectors.email.intake import mail_record
from inbox.connectors.email.providers import PROVIDERS, payload_content_type, provider_mails, provider_verify
from inbox.connectors.registry import connector_for
from inbox.models import Inbox

logger = logging.getLogger(__name__)


def _too_large(request) -> bool:
    # Checked on Content-Length, before anything is read.
    return int(request.META.get("CONTENT_LENGTH") or 0) > settings.WEBHOOK_MAX_BODY_BYTES


@csrf_exempt
@require_http_methods(["GET", "POST"])
def inbound_webhook(request, kind, token):
    inbox = Inbox.objects.filter(public_token=token, kind=kind, is_active=True).exclude(kind=Inbox.Kind.WEBCHAT).first()
    if inbox is None:
        return HttpResponseNotFound("No active inbox answers at this address. Check the webhook URL.")
    if request.method == "GET":
        return connector_for(inbox).handshake(inbox=inbox, request=request) or HttpResponse(
            "Use POST.", status=405, headers={"Allow": "POST"}
        )
    if _too_large(request):
        return HttpResponse("Payload too large.", status=413)
    connector = connector_for(inbox)
    raw = request.body  # read first: a verifier reading form fields must not consume the stream
    try:
        connector.verify(inbox=inbox, request=request)
    except WebhookVerificationFailed as exc:
        logger.warning("refused webhook for inbox %s: %s", inbox.pk, exc)
        return HttpResponseForbidden("Signature verification failed.")
    content_type = request.content_type or "application/octet-stream"
    try:
        external_id = connector.event_id(inbox=inbox, raw=raw, content_type=content_type)
    except ParseError as exc:
        # Signed by the provider but not understood: keep it, keyed by its content, for replay.
        external_id = unparsed_event_id(raw)
        logger.warning("inbound event for inbox %s without a usable id: %s", inbox.pk, exc)
    event = inbound_event_record(inbox=inbox, external_id=external_id, raw=raw, content_type=content_type)
    if event is not None:
        # If the broker is down this raises after the event is safely stored; the sweep picks it up.
        inbound_event_process_task.delay(event.pk)
    body, response_type = connector.webhook_response
    return HttpResponse(body, content_type=response_type, status=200)


@csrf_exempt
@require_http_methods(["POST", "HEAD"])
def email_provider_webhook(request, token, provider):
    """An email service provider's inbound webhook (anymail reads it); each mail in it is stored
    like any other raw mail, keyed by its Message-ID."""
    inbox = Inbox.objects.filter(public_token=token, kind=Inbox.Kind.EMAIL, is_active=True).first()
    if inbox is None or provider not in PROVIDERS:
        return HttpResponseNotFound("No active email inbox or provider answers at this address. Check the URL.")
    if request.method == "HEAD":
        return HttpResponse()  # Mandrill checks the URL this way when the webhook is added
    if _too_large(request):
        return HttpResponse("Payload too large.", status=413)
    raw = request.body  # read first: form parsing later must not consume the stream
    try:
        provider_verify(provider, inbox, request)
    except WebhookVerificationFailed as exc:
        logger.warning("refused %s webhook for inbox %s: %s", provider, inbox.pk, exc)
        return HttpResponseForbidden("Signature verification failed.")
    try:
        mails = provider_mails(provider, inbox, request)
    except ParseError as exc:
        # Verified but not understood: kept as it came, failed with the reason, replayable after a fix.
        logger.warning("unreadable %s payload for inbox %s: %s", provider, inbox.pk, exc)
        inbound_event_record_failed(
            inbox=inbox,
            external_id=unparsed_event_id(raw),
            raw=raw,
            content_type=payload_content_type(provider, request),
            error=str(exc),
        )
        return HttpResponse(status=200)
    for mail in mails:
        mail_record(inbox, mail)
    return HttpResponse(status=200)
