"""What agents do from the workspace: reply or note, assign, label, change status, act in bulk.

Each view loads what it acts on through a selector that checks inbox membership, calls a service,
and answers with the fragment that shows the result; every other agent learns of it over the socket.
"""

import json
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from conversations import actions, selectors
from conversations.actions import ActionRefused
from conversations.formatting import signed
from conversations.replies import message_forward, message_reply_on_channel, message_retry
from inbox.connectors.registry import connector_for_kind
from inbox.workspace.email_fields import email_parts
from inbox.workspace.views import composer_context, conversation_or_404

SNOOZE_PRESETS = {"1h": "in an hour", "tomorrow": "tomorrow at 9:00", "nextweek": "next Monday at 9:00"}


def _composer(request, conversation, *, status=200, **extra):
    context = {**composer_context(request, conversation), **extra}
    return render(request, "workspace/_composer.html", context, status=status)


@login_required
@require_POST
def conversation_reply(request, conversation_id):
    """Send a reply on a channel of the customer's, add a private note (``mode=note``), or forward
    the conversation or one of its mails by email (``mode=forward``)."""
    conversation = conversation_or_404(request, conversation_id)
    post = request.POST
    text, mode = post.get("text", ""), post.get("mode", "reply")
    seen = int(post["seen"]) if post.get("seen", "").isdigit() else None
    refused = partial(_composer, request, conversation, status=422, text=text, mode=mode, typed=post)
    if not text.strip() and mode == "note":
        return refused(error="Write something first.")
    if mode == "note":
        note = actions.note_add(conversation=conversation, author=request.user, text=text)
        return _sent(request, conversation, note, seen=seen, mode="note")
    files = request.FILES.getlist("files")
    if not text.strip() and not files and mode != "forward":
        return refused(error="Write something first.")
    if sum(f.size for f in files) > settings.REPLY_ATTACHMENTS_MAX_BYTES:
        return refused(error=f"Attachments may add up to {settings.REPLY_ATTACHMENTS_MAX_BYTES // 1024 // 1024} MB.")
    channels = {c.value: c for c in selectors.reply_channels(user=request.user, conversation=conversation)}
    channel = channels.get(post.get("channel") or f"{conversation.identity_id}:{conversation.inbox_id}")
    if channel is None:
        return refused(error="That channel is not one of this customer's.")
    rules = connector_for_kind(channel.inbox_kind).attachment_rules
    if files and rules is None:
        return refused(error="Files cannot be sent on this channel; choose another.")
    if files and (why := rules.refusal(files)):
        return refused(error=why)
    try:
        email = email_parts(post, inbox=conversation.inbox) if channel.inbox_kind == "email" else None
    except ValueError as exc:
        return refused(error=str(exc))
    if mode == "forward":
        if conversation.inbox.kind != "email" or not email or not email.to:
            return refused(error="Give the address to forward to.")
        forward_of = int(post["forward_of"]) if post.get("forward_of", "").isdigit() else None
        message = message_forward(
            conversation=conversation,
            author=request.user,
            text=_signed(request, conversation.inbox, text),
            email=email,
            message_id=forward_of,
        )
        return _sent(request, conversation, message, seen=seen)
    if seen is not None and not post.get("confirm"):
        # The send guard: something new came since the agent started writing; show it, ask again.
        unseen = selectors.messages_since(user=request.user, customer_id=conversation.customer_id, after_id=seen)
        if unseen:
            newest = max(m.pk for m in unseen)
            return _composer(
                request, conversation, status=409, unseen=unseen, text=text, seen=newest, chosen=channel, typed=post
            )
    message = message_reply_on_channel(
        conversation=conversation,
        inbox_id=channel.inbox_id,
        identity_id=channel.identity_id,
        author=request.user,
        text=_signed(request, conversation.inbox, text) if email else text,
        files=files,
        email=email,
    )
    return _sent(request, conversation, message, seen=seen)


def _signed(request, inbox, text: str) -> str:
    """The agent's text with the signature the composer showed, when they kept it ticked."""
    signature = selectors.email_signature(user=request.user, inbox=inbox) if request.POST.get("sign") else ""
    return signed(text, signature)


def _sent(request, conversation, message, *, seen, mode="reply"):
    actions.conversation_mark_read(user=request.user, conversation_id=conversation.pk)
    message = selectors.message_for_display(message.pk)
    return render(
        request,
        "workspace/_reply_sent.html",
        {
            **composer_context(request, conversation),
            "message": message,
            "seen": max(message.pk, seen or 0),
            "mode": mode,
        },
    )


def _header(request, conversation_id):
    conversation = conversation_or_404(request, conversation_id)
    controls = selectors.workspace_controls(inbox_ids=[conversation.inbox_id])
    context = {"conversation": conversation, "controls": controls, "agents": controls.agents(conversation.inbox_id)}
    return render(request, "workspace/_conversation_header.html", context)


def _refused(exc: ActionRefused):
    return HttpResponse(str(exc), status=422, content_type="text/plain; charset=utf-8")


@login_required
@require_POST
def conversation_assign(request, conversation_id):
    conversation = conversation_or_404(request, conversation_id)
    value = request.POST.get("assignee", "")
    if value == "me":
        value = str(request.user.pk)
    try:
        if "team" in request.POST:
            team = request.POST["team"]
            actions.conversation_set_team(
                conversation=conversation, team_id=int(team) if team.isdigit() else None, actor=request.user
            )
        if "assignee" in request.POST:
            assignee = int(value) if value.isdigit() else None
            actions.conversation_assign(conversation=conversation, assignee_id=assignee, actor=request.user)
    except ActionRefused as exc:
        return _refused(exc)
    return _header(request, conversation_id)


@login_required
@require_POST
def conversation_status(request, conversation_id):
    conversation = conversation_or_404(request, conversation_id)
    status = request.POST.get("status", "")
    try:
        until = _snooze_until(request.POST) if status == "snoozed" else None
        actions.conversation_set_status(
            conversation=conversation, status=status, actor=request.user, snooze_until=until
        )
    except ActionRefused as exc:
        return _refused(exc)
    return _header(request, conversation_id)


def _snooze_until(post) -> datetime:
    """A preset or a chosen time, read in the agent's own time zone (the page sends its name)."""
    try:
        zone = ZoneInfo(post.get("tz") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    now = timezone.now().astimezone(zone)
    preset = post.get("for", "")
    if preset == "1h":
        return now + timedelta(hours=1)
    if preset == "tomorrow":
        return (now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    if preset == "nextweek":
        return (now + timedelta(days=7 - now.weekday())).replace(hour=9, minute=0, second=0, microsecond=0)
    try:
        chosen = datetime.fromisoformat(post.get("until", ""))
    except ValueError as exc:
        raise ActionRefused("Choose when the snooze ends.") from exc
    return chosen if chosen.tzinfo else chosen.replace(tzinfo=zone)


@login_required
@require_POST
def saved_view_save(request):
    try:
        view = actions.saved_view_save(
            user=request.user, name=request.POST.get("name", ""), query=request.POST.get("query", "")
        )
    except ActionRefused as exc:
        return _refused(exc)
    response = HttpResponse(status=204)
    response["HX-Location"] = json.dumps({"path": f"/?{view.query}", "target": "#list-pane"})
    return response


@login_required
@require_POST
def saved_view_delete(request, view_id):
    if not actions.saved_view_delete(user=request.user, view_id=view_id):
        raise Http404("No such view of yours.")
    response = HttpResponse(status=204)
    response["HX-Location"] = json.dumps({"path": "/", "target": "#list-pane"})
    return response


@login_required
@require_POST
def conversation_priority(request, conversation_id):
    conversation = conversation_or_404(request, conversation_id)
    value = request.POST.get("priority", "")
    try:
        actions.conversation_set_priority(
            conversation=conversation,
            priority=int(value) if value.isdigit() and len(value) < 3 else -1,
            actor=request.user,
        )
    except ActionRefused as exc:
        return _refused(exc)
    return _header(request, conversation_id)


@login_required
@require_POST
def conversation_labels(request, conversation_id):
    conversation = conversation_or_404(request, conversation_id)
    ids = [int(v) for v in request.POST.getlist("labels") if v.isdigit()]
    actions.conversation_set_labels(conversation=conversation, label_ids=ids, actor=request.user)
    return _header(request, conversation_id)


@login_required
@require_POST
def conversation_read(request, conversation_id):
    conversation = conversation_or_404(request, conversation_id)
    actions.conversation_mark_read(user=request.user, conversation_id=conversation.pk)
    return HttpResponse(status=204)


@login_required
@require_POST
def conversations_bulk(request):
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()][:500]
    conversations = selectors.conversations_for_agent(user=request.user, conversation_ids=ids)
    value = request.POST.get("value", "")
    if value == "me":
        value = str(request.user.pk)
    try:
        changed = actions.conversations_bulk(
            conversations=conversations, action=request.POST.get("action", ""), value=value, actor=request.user
        )
    except ActionRefused as exc:
        return _refused(exc)
    rows = selectors.conversations_for_broadcast([c.pk for c in conversations])
    return render(request, "workspace/_bulk_done.html", {"rows": rows, "changed": changed, "asked": len(ids)})


@login_required
@require_POST
def message_retry_view(request, message_id):
    message = selectors.message_for_agent(user=request.user, message_id=message_id)
    if message is None:
        raise Http404("No such message in your inboxes.")
    message_retry(message_id=message.pk, actor=request.user)
    return render(request, "workspace/_message.html", {"message": selectors.message_for_display(message.pk)})


@login_required
@require_POST
def notifications_read(request):
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()] or None
    actions.notifications_mark_read(user=request.user, ids=ids)
    notifications = selectors.notifications_for(user=request.user)
    return render(request, "workspace/_notifications.html", {"notifications": notifications})
