from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from inbox.models import Inbox
from inbox.snippets import widget_snippet


@login_required
def widget_demo_page(request, token):
    """A stand-in for a customer's website, with the widget snippet on it, for the inbox's agents."""
    inbox = Inbox.objects.filter(
        public_token=token, kind=Inbox.Kind.WEBCHAT, is_active=True, memberships__user=request.user
    ).first()
    if inbox is None:
        raise Http404("No such chat widget in your inboxes.")
    return render(request, "widget/demo.html", {"inbox": inbox, "snippet": widget_snippet(inbox)})
