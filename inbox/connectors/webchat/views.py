from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from csp.constants import SELF
from csp.decorators import csp_replace
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from inbox.accounts.permissions import is_admin
from inbox.connectors.contract import WebhookVerificationFailed
from inbox.connectors.webchat.connector import (
    VISITOR_CONTEXT_KEYS,
    WidgetHello,
    origin_allowed,
    visitor_context,
    visitor_group,
)
from inbox.connectors.webchat.services import connector, refusal, upload_checked, visitor_message_receive
from inbox.connectors.webchat.snippets import widget_preview_snippet, widget_snippet
from inbox.models import Inbox


@login_required
@xframe_options_sameorigin  # the settings page shows it in a frame, as the live preview
@csp_replace({"frame-ancestors": [SELF]})
# No exception for styles: the widget builds its stylesheet by script, so it works on this page
# under the site's strict policy, as on a customer's site with one.
def widget_demo_page(request, token):
    """A stand-in for a customer's website, with the widget snippet on it, for the inbox's agents
    (and for admins, who preview the widget here with settings they have not saved yet)."""
    inboxes = Inbox.objects.filter(public_token=token, kind=Inbox.Kind.WEBCHAT, is_active=True)
    if not is_admin(request.user):
        inboxes = inboxes.filter(memberships__user=request.user)
    inbox = inboxes.first()
    if inbox is None:
        raise Http404("No such chat widget in your inboxes.")
    snippet = widget_snippet(inbox)
    preview = bool(request.GET.get("preview"))
    # What the settings form has not changed (on the page's first load, nothing) is shown as saved.
    saved, asked = inbox.settings, request.GET
    shown = (
        widget_preview_snippet(
            inbox,
            color=asked.get("color", saved.get("color", "")),
            greeting=asked.get("greeting", saved.get("greeting", "")),
            prechat=asked["prechat"].split(",") if "prechat" in asked else saved.get("prechat_fields", []),
            prechat_required=bool(asked.get("prechat_required"))
            if "prechat" in asked
            else bool(saved.get("prechat_required")),
        )
        if preview
        else snippet
    )
    return render(
        request,
        "connectors/webchat/demo.html",
        {"inbox": inbox, "snippet": snippet, "shown_snippet": shown, "preview": preview},
    )


@csrf_exempt  # posted from the customer's website; the signed visitor token and the origin are the check
@require_POST
def widget_upload(request, token):
    """A visitor's file, sent from the widget: checked on its content, stored like their messages,
    and shown to the team live. Answers as the socket would (an ack with the message, or an error)."""
    inbox = Inbox.objects.filter(public_token=token, kind=Inbox.Kind.WEBCHAT, is_active=True).first()
    origin = request.headers.get("Origin")
    if inbox is None or not origin_allowed(inbox, origin):
        return JsonResponse(
            {"type": "error", "code": "origin_refused", "message": "This chat is not enabled here."}, status=403
        )
    post = request.POST
    hello = WidgetHello(
        origin=origin,
        visitor_token=post.get("visitor_token") or None,
        **{key: post.get(key, "")[:320] for key in ("email", "name", "identity_hash")},
    )
    client_id = post.get("id", "")[:64]
    try:
        visitor = connector.verify(inbox=inbox, request=hello)
    except WebhookVerificationFailed:
        return _cors(
            JsonResponse(refusal(client_id, "origin_refused", "This chat is not enabled here."), status=403), origin
        )
    upload = request.FILES.get("file")
    if not client_id or upload is None or not hello.visitor_token:
        return _cors(JsonResponse(refusal(client_id, "bad_upload", "Choose a file to send."), status=400), origin)
    checked = upload_checked(name=upload.name, content=upload.read(settings.WIDGET_UPLOAD_MAX_BYTES + 1))
    if isinstance(checked, str):
        return _cors(JsonResponse(refusal(client_id, "file_refused", checked), status=422), origin)
    reply = visitor_message_receive(
        inbox=inbox,
        visitor=visitor,
        client_ip=request.META.get("REMOTE_ADDR", "unknown"),
        client_id=client_id,
        text=post.get("text", "")[:10_000],
        files=[checked],
        context=visitor_context(
            {key: post.get(key, "") for key in VISITOR_CONTEXT_KEYS}
            | {"browser": request.headers.get("User-Agent", "")}
        ),
    )
    if reply.get("message"):
        # The visitor's other tabs show it too (this one has it from the answer).
        async_to_sync(get_channel_layer().group_send)(
            visitor_group(inbox.pk, visitor.id), {"type": "widget.message", "message": reply["message"]}
        )
    return _cors(JsonResponse(reply, status=200 if reply["type"] == "ack" else 429), origin)


def _cors(response, origin: str):
    # The widget reads the answer from the customer's page: that origin (already checked) may.
    response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response
