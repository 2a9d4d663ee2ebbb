"""The quarantine: inbound events we kept but could not process, with why, and a replay button."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from conversations.intake import inbound_events_archive, inbound_events_replay
from conversations.models import InboundEvent
from inbox.accounts.permissions import admin_required
from inbox.administration.events import selectors
from inbox.models import Inbox

RAW_PREVIEW_BYTES = 4000


@admin_required
def event_list(request):
    inbox_id = request.GET.get("inbox") or None
    state = request.GET.get("state", InboundEvent.State.FAILED)
    if state not in InboundEvent.State.values:
        state = ""
    events = list(selectors.failed_events(inbox_id=int(inbox_id) if (inbox_id or "").isdigit() else None, state=state))
    return render(
        request,
        "administration/events/list.html",
        {
            "settings_section": "events",
            "events": events,
            "inboxes": Inbox.objects.order_by("name"),
            "states": InboundEvent.State.choices,
            "filters": {"inbox": inbox_id or "", "state": state},
        },
    )


@admin_required
def event_detail(request, event_id):
    event = get_object_or_404(InboundEvent.objects.select_related("inbox"), pk=event_id)
    raw = bytes(event.raw)
    return render(
        request,
        "administration/events/detail.html",
        {
            "settings_section": "events",
            "event": event,
            # Shown as text, escaped by the template: never rendered as the HTML it may contain.
            "raw_preview": raw[:RAW_PREVIEW_BYTES].decode("utf-8", errors="replace"),
            "raw_truncated": len(raw) > RAW_PREVIEW_BYTES,
            "raw_size": len(raw),
        },
    )


@admin_required
@require_POST
def event_replay(request, event_id):
    event = get_object_or_404(InboundEvent.objects.select_related("inbox"), pk=event_id)
    _replay(request, [event])
    return _back(request, "settings:events")


@admin_required
@require_POST
def event_archive(request, event_id):
    event = get_object_or_404(InboundEvent.objects.select_related("inbox"), pk=event_id)
    if inbound_events_archive(events=[event], actor=request.user):
        messages.success(request, f"Event {event.pk} archived: it is kept, and can still be replayed.")
    else:
        messages.info(request, f"Event {event.pk} is not failed, so there was nothing to archive.")
    return _back(request, "settings:events")


@admin_required
@require_POST
def inbox_events_replay(request, inbox_id):
    inbox = get_object_or_404(Inbox, pk=inbox_id)
    events = list(
        InboundEvent.objects.filter(inbox=inbox, state=InboundEvent.State.FAILED).select_related("inbox")[:500]
    )
    _replay(request, events)
    return _back(request, "settings:inbox_detail", inbox.pk)


def _replay(request, events: list[InboundEvent]) -> None:
    still = inbound_events_replay(events=events, actor=request.user)
    if still:
        messages.warning(request, f"Replayed {len(events)}; {still} still failing (the reason is on each).")
    else:
        messages.success(request, f"Replayed {len(events)}: all processed.")


def _back(request, *fallback):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(*fallback)
