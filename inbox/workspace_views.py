"""The agent workspace: one view per page, rendering the full page or an htmx fragment."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from conversations import selectors
from conversations.services import message_reply_on_channel
from customers.selectors import customer_for_agent, customer_identities, customer_possible_match
from customers.services import customer_merge
from inbox.connectors.registry import CONNECTORS

# Clocks of several server processes differ a little; resync looks back this much further.
SYNC_OVERLAP = timedelta(seconds=5)
# Shown in the page (an email's inline images); anything else is downloaded, never rendered.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def _list_context(request):
    rows, next_cursor = selectors.conversation_list(
        user=request.user, after=selectors.Cursor.decode(request.GET.get("after"))
    )
    return {"rows": rows, "next_cursor": next_cursor.encode() if next_cursor else ""}


@never_cache
@login_required
@require_GET
def conversation_list(request):
    context = _list_context(request)
    if request.htmx and request.GET.get("after"):
        return render(request, "workspace/_conversation_rows.html", context)
    return render(request, "workspace/page.html", {**context, "cursor": timezone.now().isoformat()})


def _conversation_or_404(request, conversation_id):
    conversation = selectors.conversation_for_agent(user=request.user, conversation_id=conversation_id)
    if conversation is None:
        raise Http404("No such conversation in your inboxes.")
    return conversation


def _conversation_context(request, conversation_id):
    conversation = _conversation_or_404(request, conversation_id)
    timeline, earlier = selectors.customer_timeline(user=request.user, customer_id=conversation.customer_id)
    return {
        "conversation": conversation,
        "channels": selectors.reply_channels(user=request.user, conversation=conversation),
        "timeline": timeline,
        "earlier": earlier.encode() if earlier else "",
        "identities": customer_identities(user=request.user, customer_id=conversation.customer_id),
        "possible_match": customer_possible_match(user=request.user, customer=conversation.customer),
    }


@never_cache
@login_required
@require_GET
def conversation_detail(request, conversation_id):
    context = _conversation_context(request, conversation_id)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "workspace/_conversation_pane.html", context)
    return render(
        request, "workspace/page.html", {**_list_context(request), **context, "cursor": timezone.now().isoformat()}
    )


@never_cache
@login_required
@require_GET
def timeline_earlier(request, conversation_id):
    """The page of the timeline before a cursor, for "Load earlier"."""
    conversation = _conversation_or_404(request, conversation_id)
    before = selectors.Cursor.decode(request.GET.get("before"))
    if before is None:
        return HttpResponseBadRequest("before must be a timeline cursor")
    timeline, earlier = selectors.customer_timeline(
        user=request.user, customer_id=conversation.customer_id, before=before
    )
    context = {"conversation": conversation, "timeline": timeline, "earlier": earlier.encode() if earlier else ""}
    return render(request, "workspace/_timeline_page.html", context)


def _composer_refused(request, conversation, error):
    channels = selectors.reply_channels(user=request.user, conversation=conversation)
    context = {"conversation": conversation, "channels": channels, "error": error}
    return render(request, "workspace/_composer.html", context, status=422)


@login_required
@require_POST
def conversation_reply(request, conversation_id):
    conversation = _conversation_or_404(request, conversation_id)
    text = request.POST.get("text", "")
    if not text.strip():
        return _composer_refused(request, conversation, "Write something first.")
    files = request.FILES.getlist("files")
    if sum(f.size for f in files) > settings.REPLY_ATTACHMENTS_MAX_BYTES:
        limit = settings.REPLY_ATTACHMENTS_MAX_BYTES // 1024 // 1024
        return _composer_refused(request, conversation, f"Attachments may add up to {limit} MB.")
    channels = {c.value: c for c in selectors.reply_channels(user=request.user, conversation=conversation)}
    channel = channels.get(request.POST.get("channel") or f"{conversation.identity_id}:{conversation.inbox_id}")
    if channel is None:
        return _composer_refused(request, conversation, "That channel is not one of this customer's.")
    if files and not CONNECTORS[channel.inbox_kind].sends_attachments:
        return _composer_refused(
            request, conversation, "Attachments can go out by email only; choose an email channel."
        )
    message = message_reply_on_channel(
        conversation=conversation,
        inbox_id=channel.inbox_id,
        identity_id=channel.identity_id,
        author=request.user,
        text=text,
        files=files,
    )
    message = selectors.message_for_display(message.pk)
    return render(request, "workspace/_reply_sent.html", {"conversation": conversation, "message": message})


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
    return render(
        request, "workspace/_sync.html", {"conversations": conversations, "messages": messages, "cursor": cursor}
    )


@login_required
@require_GET
def attachment(request, attachment_id):
    found = selectors.attachment_for_agent(user=request.user, attachment_id=attachment_id)
    if found is None:
        raise Http404("No such attachment in your inboxes.")
    response = FileResponse(
        found.file.open("rb"),
        as_attachment=found.content_type not in INLINE_TYPES,
        filename=found.filename,
        content_type=found.content_type if found.content_type in INLINE_TYPES else "application/octet-stream",
    )
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
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


@login_required
@require_POST
def customer_merge_view(request, customer_id):
    """Merge another customer (both must be in the agent's inboxes) into this one."""
    target = customer_for_agent(user=request.user, customer_id=customer_id)
    other = request.POST.get("other", "")
    source = customer_for_agent(user=request.user, customer_id=int(other)) if other.isdigit() else None
    if target is None or source is None:
        raise Http404("No such customer in your inboxes.")
    if selectors.conversations_outside_inboxes(user=request.user, customer_ids=[source.pk, target.pk]):
        return HttpResponseForbidden("These customers have conversations in inboxes you are not in: ask an admin.")
    try:
        customer_merge(source=source, target=target)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    conversation = request.POST.get("conversation", "")
    return redirect("workspace:conversation_detail", int(conversation)) if conversation.isdigit() else redirect("/")
