"""The one inbound HTTP path of every webhook connector: verify, store raw, answer, then process."""

import logging

from django.http import HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from conversations.intake import inbound_event_queue, inbound_event_record, inbound_event_unprocessed
from inbox.connectors.contract import ParseError, WebhookVerificationFailed, request_too_large, unparsed_event_id
from inbox.connectors.registry import connector_for
from inbox.models import Inbox

logger = logging.getLogger(__name__)


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
    if request_too_large(request):
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
    if event is None:
        # A resend of what we have: if its processing never ran (its task was lost), run it now rather
        # than wait for the sweep.
        event = inbound_event_unprocessed(inbox=inbox, external_id=external_id)
    if event is not None:
        inbound_event_queue(event.pk)
    body, response_type = connector.webhook_response
    return HttpResponse(body, content_type=response_type, status=200)
