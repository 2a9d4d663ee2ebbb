"""The agent workspace's pages: one view per page, rendering the full page or an htmx fragment."""

from datetime import datetime, timedelta

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from conversations import selectors
from conversations.actions import conversation_mark_read
from conversations.selectors import ListState
from customers.selectors import customer_identities, customer_past_conversations, customer_possible_match
from inbox.connectors.email.connector import reply_all_addresses
from inbox.connectors.public_files import public_file_id
from inbox.connectors.registry import connector_for_kind
from inbox.workspace.templatetags import INLINE_IMAGE_TYPES

# Clocks of several server processes differ a little; resync looks back this much further.
SYNC_OVERLAP = timedelta(seconds=5)


def list_context(request, state: ListState | None = None) -> dict:
    state = state or ListState.from_query(request.GET)
    rows, next_cursor = selectors.conversation_list(
        user=request.user, state=state, after=selectors.Cursor.decode(request.GET.get("after"))
    )
    return {
        "rows": rows,
        "next_cursor": next_cursor.encode() if next_cursor else "",
        "next_position": next_cursor,
        "state": state,
        "list_query": state.query,
    }


STATUS_CHOICES = [
    ("open", "Open"),
    ("pending", "Pending"),
    ("snoozed", "Snoozed"),
    ("resolved", "Resolved"),
    ("all", "All"),
]


def _views(request, state: ListState, teams) -> list[dict]:
    """The views with their counts, each linked with the current status and sort kept."""
    counts = selectors.view_counts(user=request.user, status=state.status)
    views = [("mine", "Mine", counts.mine), ("unassigned", "Unassigned", counts.unassigned), ("all", "All", counts.all)]
    views += [(f"team-{team.pk}", team.name, counts.teams.get(team.pk, 0)) for team in teams]
    views += [("breaching", "Breaching soon", counts.breaching)]
    return [
        {
            "key": key,
            "label": label,
            "count": count,
            # Breaching soon lists the nearest deadline first; the other views keep the sort in use.
            "query": ListState(view=key, status=state.status, sort="sla" if key == "breaching" else state.sort).query,
        }
        for key, label, count in views
    ]


def page_context(request, state: ListState) -> dict:
    """What every full page shows around its panes: views with counts, filters, notifications."""
    controls = selectors.workspace_controls(inbox_ids=selectors.visible_inbox_ids(request.user))
    return {
        "views": _views(request, state, controls.teams),
        "controls": controls,
        "all_agents": sorted({a for agents in controls.agents_by_inbox.values() for a in agents}, key=_agent_name),
        "status_choices": STATUS_CHOICES,
        "inboxes": selectors.agent_inboxes(user=request.user),
        "notifications": selectors.notifications_for(user=request.user),
        "canned": selectors.canned_for(user=request.user),
        "saved_views": selectors.saved_views(user=request.user),
        "cursor": timezone.now().isoformat(),
    }


def _agent_name(user) -> str:
    return (user.get_full_name() or user.get_username()).lower()


@never_cache
@login_required
@require_GET
def conversation_list(request):
    state = ListState.from_query(request.GET)
    context = list_context(request, state)
    if request.htmx and request.GET.get("after"):
        return render(request, "workspace/_conversation_rows.html", context)
    if request.htmx and request.htmx.target == "list-pane":
        response = render(request, "workspace/_list_pane.html", {**context, **page_context(request, state)})
        # The address bar shows the list's canonical address (defaults left out), for reload and back.
        response["HX-Push-Url"] = f"{request.path}?{state.query}" if state.query else request.path
        return response
    return render(request, "workspace/page.html", {**context, **page_context(request, state)})


@never_cache
@login_required
@require_GET
def view_counts(request):
    state = ListState.from_query(request.GET)
    views = _views(request, state, selectors.teams())
    return render(request, "workspace/_view_counts.html", {"views": views, "state": state})


def conversation_or_404(request, conversation_id):
    conversation = selectors.conversation_for_agent(user=request.user, conversation_id=conversation_id)
    if conversation is None:
        raise Http404("No such conversation in your inboxes.")
    return conversation


def composer_context(request, conversation, controls=None) -> dict:
    """What the composer offers: the customer's channels, the agents to mention, and on an email
    conversation its Reply all addresses and the signature."""
    controls = controls or selectors.workspace_controls(inbox_ids=[conversation.inbox_id])
    context = {
        "conversation": conversation,
        "agents": controls.agents(conversation.inbox_id),
        "channels": selectors.reply_channels(user=request.user, conversation=conversation),
        "attachments_allowed": connector_for_kind(conversation.inbox.kind).attachment_rules is not None,
    }
    if conversation.inbox.kind == conversation.inbox.Kind.EMAIL:
        recipients = selectors.latest_inbound_recipients(conversation_id=conversation.pk)
        context["reply_all"] = reply_all_addresses(conversation.inbox, recipients, conversation.identity.address)
        context["signature"] = selectors.email_signature(user=request.user, inbox=conversation.inbox)
    return context


def conversation_context(request, conversation) -> dict:
    timeline, earlier = selectors.customer_timeline(user=request.user, customer_id=conversation.customer_id)
    controls = selectors.workspace_controls(inbox_ids=[conversation.inbox_id])
    return {
        **composer_context(request, conversation, controls),
        "controls": controls,
        "timeline": timeline,
        "earlier": earlier.encode() if earlier else "",
        "seen": max((m.pk for m in timeline), default=0),
        "identities": customer_identities(user=request.user, customer_id=conversation.customer_id),
        "past": customer_past_conversations(user=request.user, customer_id=conversation.customer_id),
        "possible_match": customer_possible_match(user=request.user, customer=conversation.customer),
    }


@never_cache
@login_required
@require_GET
def conversation_detail(request, conversation_id):
    conversation = conversation_or_404(request, conversation_id)
    conversation_mark_read(user=request.user, conversation_id=conversation.pk)
    context = conversation_context(request, conversation)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "workspace/_conversation_pane.html", context)
    state = ListState.from_query(request.GET)
    return render(
        request, "workspace/page.html", {**list_context(request, state), **page_context(request, state), **context}
    )


@never_cache
@login_required
@require_GET
def timeline_earlier(request, conversation_id):
    """The page of the timeline before a cursor, for "Load earlier"."""
    conversation = conversation_or_404(request, conversation_id)
    before = selectors.Cursor.decode(request.GET.get("before"))
    if before is None:
        return HttpResponseBadRequest("before must be a timeline cursor")
    timeline, earlier = selectors.customer_timeline(
        user=request.user, customer_id=conversation.customer_id, before=before
    )
    context = {"conversation": conversation, "timeline": timeline, "earlier": earlier.encode() if earlier else ""}
    return render(request, "workspace/_timeline_page.html", context)


@never_cache
@login_required
@require_GET
def sync(request):
    """What changed since a cursor: the page asks after its socket (re)opens and now and then."""
    try:
        since = datetime.fromisoformat(request.GET["since"]) - SYNC_OVERLAP
    except (KeyError, ValueError):
        return HttpResponseBadRequest("since must be an ISO 8601 time")
    if since.tzinfo is None:
        return HttpResponseBadRequest("since needs a time zone")
    cursor = timezone.now().isoformat()  # taken first: whatever commits after it comes next time
    conversations = selectors.conversations_changed(user=request.user, since=since)
    customer_id = request.GET.get("customer", "")
    messages = []
    if customer_id.isdigit():
        messages = selectors.timeline_changes(user=request.user, customer_id=int(customer_id), since=since)
    if len(conversations) > selectors.SYNC_LIMIT or len(messages) >= selectors.SYNC_LIMIT:
        # Away so long that a fresh page is cheaper than a patch.
        return HttpResponse(headers={"HX-Refresh": "true"})
    context = {
        "conversations": conversations,
        "messages": messages,
        "cursor": cursor,
        "notifications": selectors.notifications_for(user=request.user),
        "missed_notifications": selectors.notifications_since(user=request.user, since=since),
    }
    # The open conversation's header, if it changed (assigned, labelled, snoozed) while away.
    open_id = request.GET.get("conversation", "")
    changed = [c for c in conversations if str(c.pk) == open_id]
    if changed:
        controls = selectors.workspace_controls(inbox_ids=[changed[0].inbox_id])
        context.update(open=changed[0], controls=controls, agents=controls.agents(changed[0].inbox_id))
    return render(request, "workspace/_sync.html", context)


@login_required
@require_GET
def attachment(request, attachment_id):
    found = selectors.attachment_for_agent(user=request.user, attachment_id=attachment_id)
    if found is None:
        raise Http404("No such attachment in your inboxes.")
    return _file_response(found, content_type="application/octet-stream")


@require_GET
def public_file(request, token):
    """A file by its signed link (public_files): what Twilio and Meta fetch, and a visitor opens."""
    attachment_id = public_file_id(token)
    found = selectors.attachment_by_id(attachment_id) if attachment_id else None
    if found is None:
        raise Http404("This link has expired.")
    # Providers check the type of what they fetch (Twilio refuses an MMS of "octet-stream").
    return _file_response(found, content_type=found.content_type)


def _file_response(found, *, content_type: str) -> FileResponse:
    """Images shown in the page; anything else downloaded, sandboxed, never run or sniffed."""
    image = found.content_type in INLINE_IMAGE_TYPES
    response = FileResponse(
        found.file.open("rb"),
        as_attachment=not image,
        filename=found.filename,
        content_type=found.content_type if image else content_type,
    )
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def message_original(request, message_id):
    """The complete mail as it reached us, byte for byte."""
    event = selectors.message_original_for_agent(user=request.user, message_id=message_id)
    if event is None:
        raise Http404("No original mail for this message in your inboxes.")
    response = HttpResponse(bytes(event.raw), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="message-{message_id}.eml"'
    return response
