from csp.constants import SELF
from csp.decorators import csp_replace
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin

from inbox.accounts.permissions import is_admin
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
