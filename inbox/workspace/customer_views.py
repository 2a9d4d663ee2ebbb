"""The customer sidebar: notes about the person, and merging two customers (with undo)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from conversations import selectors
from conversations.search import search
from customers.models import CustomerMerge
from customers.selectors import (
    MergePreview,
    customer_for_agent,
    customer_identities,
    customer_past_conversations,
    merge_preview,
)
from customers.services import customer_merge, customer_merge_undo, customer_notes_update
from inbox.workspace.views import conversation_context, conversation_or_404


def _pair(request, customer_id):
    """The target and the customer to merge into it, both visible to the agent, or 404."""
    target = customer_for_agent(user=request.user, customer_id=customer_id)
    other = request.POST.get("other") or request.GET.get("other") or ""
    source = customer_for_agent(user=request.user, customer_id=int(other)) if other.isdigit() else None
    if target is None or source is None:
        raise Http404("No such customer in your inboxes.")
    return source, target


def _all_visible(request, *customer_ids) -> bool:
    return not selectors.conversations_outside_inboxes(user=request.user, customer_ids=list(customer_ids))


@never_cache
@login_required
@require_GET
def merge_candidates(request, customer_id):
    """Customers matching what the agent typed, to pick the one to merge in."""
    if customer_for_agent(user=request.user, customer_id=customer_id) is None:
        raise Http404("No such customer in your inboxes.")
    hits = [
        hit
        for hit in search(user=request.user, query=request.GET.get("q", "")).customers
        if hit.customer.pk != customer_id
    ]
    return render(request, "workspace/_merge_candidates.html", {"hits": hits, "target_id": customer_id})


@never_cache
@login_required
@require_GET
def merge_preview_view(request, customer_id):
    source, target = _pair(request, customer_id)
    allowed = _all_visible(request, source.pk, target.pk)
    if allowed:
        preview = merge_preview(source=source, target=target)
    else:
        # The merge is refused; and what lies in inboxes the agent is not in (an address used
        # only there, a conversation there) is not theirs to see either, as in the sidebar.
        preview = MergePreview(
            identities=customer_identities(user=request.user, customer_id=source.pk),
            conversations=customer_past_conversations(user=request.user, customer_id=source.pk),
        )
    context = {
        "preview": preview,
        "source": source,
        "target": target,
        "conversation_id": request.GET.get("conversation", ""),
        "allowed": allowed,
    }
    return render(request, "workspace/_merge_preview.html", context)


@login_required
@require_POST
def customer_merge_view(request, customer_id):
    """Merge another customer (both must be wholly in the agent's inboxes) into this one."""
    source, target = _pair(request, customer_id)
    if not _all_visible(request, source.pk, target.pk):
        return HttpResponseForbidden("These customers have conversations in inboxes you are not in: ask an admin.")
    try:
        merge = customer_merge(source=source, target=target, actor=request.user)
    except ValueError as exc:
        return HttpResponse(str(exc), status=422, content_type="text/plain; charset=utf-8")
    return _pane_after(request, merge=merge)


@login_required
@require_POST
def merge_undo(request, merge_id):
    merge = get_object_or_404(CustomerMerge, pk=merge_id)
    if (
        not _all_visible(request, merge.source_id, merge.target_id)
        or customer_for_agent(user=request.user, customer_id=merge.target_id) is None
    ):
        raise Http404("No such merge in your inboxes.")
    try:
        customer_merge_undo(merge=merge, actor=request.user)
    except ValueError as exc:
        return HttpResponse(str(exc), status=422, content_type="text/plain; charset=utf-8")
    merge.refresh_from_db()
    return _pane_after(request, merge=merge)


def _pane_after(request, *, merge):
    """The conversation the agent was on, shown again with what the merge (or its undo) changed."""
    conversation_id = request.POST.get("conversation", "")
    if not request.htmx:
        return (
            redirect("workspace:conversation_detail", int(conversation_id))
            if conversation_id.isdigit()
            else redirect("/")
        )
    if not conversation_id.isdigit():
        return HttpResponse(status=204, headers={"HX-Refresh": "true"})
    conversation = conversation_or_404(request, int(conversation_id))
    context = {**conversation_context(request, conversation), "merge": merge}
    return render(request, "workspace/_conversation_pane.html", context)


@login_required
@require_POST
def customer_notes(request, customer_id):
    customer = customer_for_agent(user=request.user, customer_id=customer_id)
    if customer is None:
        raise Http404("No such customer in your inboxes.")
    customer_notes_update(customer=customer, notes=request.POST.get("notes", ""))
    return HttpResponse('<span class="saved" role="status">Saved</span>')
