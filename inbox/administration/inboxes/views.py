"""Admins connect channels: the inbox list with each one's health, a form per kind, connection
checks, and the webhook addresses to paste at the provider."""

import secrets
import uuid

from django.contrib import messages
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from inbox.accounts.permissions import admin_required
from inbox.administration.events.selectors import failed_events
from inbox.administration.inboxes import selectors
from inbox.administration.inboxes.checks import connection_check
from inbox.administration.inboxes.forms import FORMS, secret_hint
from inbox.administration.inboxes.services import (
    InboxInUse,
    inbox_delete,
    inbox_save,
    inbox_secret_rotate,
    inbox_set_active,
)
from inbox.connectors.contract import webhook_url
from inbox.connectors.email.providers import provider_webhook_urls
from inbox.connectors.webchat.snippets import widget_snippet
from inbox.models import Inbox

# Kinds an admin can add here (the fake one is for tests and the demo).
ADDABLE = [Inbox.Kind.WEBCHAT, Inbox.Kind.EMAIL, Inbox.Kind.SMS, Inbox.Kind.MESSENGER]
# Kinds whose secret someone outside must hold: websites sign visitors with it, raw-mail posts use it
# as their password. (SMS and Messenger are signed with the provider's own credentials.)
USES_SECRET = {Inbox.Kind.WEBCHAT, Inbox.Kind.EMAIL}
# A new secret is shown once, on the page the admin lands on: it waits in the cache, never the database.
REVEAL_SECONDS = 300


def _context(**extra):
    return {"settings_section": "inboxes", **extra}


@admin_required
def inbox_list(request):
    return render(
        request,
        "administration/inboxes/list.html",
        _context(inboxes=selectors.inboxes_with_health(), addable=[(k, Inbox.Kind(k).label) for k in ADDABLE]),
    )


@admin_required
@require_http_methods(["GET", "POST"])
def inbox_new(request, kind):
    if kind not in ADDABLE:
        raise Http404("No such kind of inbox.")
    form_class = FORMS[kind]
    initial = {"verify_token": secrets.token_urlsafe(16)} if kind == Inbox.Kind.MESSENGER else {}
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        inbox = inbox_save(inbox=Inbox(kind=kind, settings={}, credentials={}), form=form, actor=request.user)
        messages.success(request, f"“{inbox.name}” is ready. Connect it at the provider with the details below.")
        if kind in USES_SECRET:
            return _redirect_revealing(request, inbox, inbox.secret)
        return redirect("settings:inbox_detail", inbox.pk)
    return render(
        request, "administration/inboxes/form.html", _context(form=form, kind=kind, kind_label=Inbox.Kind(kind).label)
    )


@admin_required
@require_http_methods(["GET", "POST"])
def inbox_detail(request, inbox_id):
    inbox = get_object_or_404(Inbox, pk=inbox_id)
    form = FORMS[inbox.kind](request.POST or None, inbox=inbox)
    if request.method == "POST" and form.is_valid():
        inbox_save(inbox=inbox, form=form, actor=request.user)
        messages.success(request, "Saved.")
        return redirect("settings:inbox_detail", inbox.pk)
    revealed = (
        cache.get(f"reveal:{request.user.pk}:{request.GET.get('reveal', '')}") if "reveal" in request.GET else None
    )
    if revealed:
        cache.delete(f"reveal:{request.user.pk}:{request.GET['reveal']}")
    return render(
        request,
        "administration/inboxes/detail.html",
        _context(
            inbox=selectors.inbox_with_health(inbox.pk),
            form=form,
            connect=_connect_details(inbox, revealed),
            uses_secret=inbox.kind in USES_SECRET,
            events=failed_events(inbox_id=inbox.pk, limit=20),
        ),
    )


def _connect_details(inbox: Inbox, revealed: str | None) -> dict:
    """What to paste where. The secret appears once, right after it was made; a hint otherwise."""
    details = {"secret": revealed, "secret_hint": secret_hint(inbox.secret)}
    if inbox.kind == Inbox.Kind.WEBCHAT:
        details["snippet"] = widget_snippet(inbox)
    elif inbox.kind == Inbox.Kind.EMAIL:
        details["webhook_url"] = webhook_url(inbox)
        details["provider_urls"] = provider_webhook_urls(inbox)
    else:
        details["webhook_url"] = webhook_url(inbox)
        details["verify_token"] = (inbox.credentials or {}).get("verify_token", "")
    return details


def _redirect_revealing(request, inbox: Inbox, secret: str):
    key = uuid.uuid4().hex
    cache.set(f"reveal:{request.user.pk}:{key}", secret, REVEAL_SECONDS)
    response = redirect("settings:inbox_detail", inbox.pk)
    response["Location"] += f"?reveal={key}"
    return response


@admin_required
@require_POST
def inbox_check(request, inbox_id):
    inbox = get_object_or_404(Inbox, pk=inbox_id)
    results = connection_check(inbox)
    return render(request, "administration/inboxes/_check_results.html", {"results": results, "inbox": inbox})


@admin_required
@require_POST
def inbox_toggle(request, inbox_id):
    inbox = get_object_or_404(Inbox, pk=inbox_id)
    inbox_set_active(inbox=inbox, active=not inbox.is_active, actor=request.user)
    messages.success(request, f"“{inbox.name}” is {'enabled' if inbox.is_active else 'disabled'}.")
    return redirect("settings:inbox_detail", inbox.pk)


@admin_required
@require_POST
def inbox_rotate_secret(request, inbox_id):
    inbox = get_object_or_404(Inbox, pk=inbox_id)
    secret = inbox_secret_rotate(inbox=inbox, actor=request.user)
    messages.success(request, "A new secret is in use. The previous one keeps working until the next rotation.")
    return _redirect_revealing(request, inbox, secret)


@admin_required
@require_POST
def inbox_remove(request, inbox_id):
    inbox = get_object_or_404(Inbox, pk=inbox_id)
    try:
        inbox_delete(inbox=inbox, actor=request.user)
    except InboxInUse as exc:
        messages.error(request, str(exc))
        return redirect("settings:inbox_detail", inbox.pk)
    messages.success(request, f"Deleted “{inbox.name}”.")
    return redirect("settings:inbox_list")
