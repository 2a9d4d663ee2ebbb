"""Search across the messages, customers and conversations of the agent's inboxes."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from conversations.search import search
from conversations.selectors import ListState
from inbox.workspace.views import list_context, page_context

MIN_QUERY = 2


@never_cache
@login_required
@require_GET
def search_view(request):
    query = request.GET.get("q", "").strip()
    results = search(user=request.user, query=query) if len(query) >= MIN_QUERY else None
    context = {"query": query, "results": results, "searching": True}
    if request.htmx:
        return render(request, "workspace/_search_results.html", context)
    # A search's own address (shared, reloaded) shows the whole page with the results in the list.
    state = ListState()
    return render(
        request, "workspace/page.html", {**list_context(request, state), **page_context(request, state), **context}
    )
