from csp.constants import SELF
from csp.decorators import csp_replace
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.html import format_html
from django.views.decorators.clickjacking import xframe_options_sameorigin

from inbox.inbox_forms import HEX_COLOUR
from inbox.models import Inbox
from inbox.permissions import is_admin
from inbox.snippets import widget_script_url, widget_snippet

PREVIEW_FIELDS = {"name", "email"}


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
    shown = _preview_snippet(request, inbox) if preview else snippet
    return render(
        request, "widget/demo.html", {"inbox": inbox, "snippet": snippet, "shown_snippet": shown, "preview": preview}
    )


def _preview_snippet(request, inbox: Inbox) -> str:
    """The snippet with unsaved look and pre-chat settings as data attributes (escaped), which the
    widget prefers to the saved ones."""
    colour = request.GET.get("color", "")
    asked = [f for f in request.GET.get("prechat", "").split(",") if f in PREVIEW_FIELDS]
    return format_html(
        '<script src="{}" data-inbox-token="{}" data-preview="1" data-preview-color="{}" data-preview-greeting="{}"'
        ' data-preview-prechat="{}" data-preview-prechat-required="{}" async></script>',
        widget_script_url(),
        inbox.public_token,
        colour if HEX_COLOUR.match(colour) else "",
        request.GET.get("greeting", "")[:300],
        ",".join(asked),
        "1" if request.GET.get("prechat_required") else "",
    )
