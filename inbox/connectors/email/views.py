"""Email service providers' inbound webhooks (anymail reads each provider's format)."""

import logging

from django.http import HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from conversations.intake import inbound_event_record_failed
from inbox.connectors.contract import ParseError, WebhookVerificationFailed, request_too_large, unparsed_event_id
from inbox.connectors.email.intake import mail_record
from inbox.connectors.email.providers import PROVIDERS, payload_content_type, provider_mails, provider_verify
from inbox.models import Inbox

logger = logging.getLogger(__name__)


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
    if request_too_large(request):
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
