"""Search across the messages, customers and conversations of the agent's inboxes."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from conversations.search import search
from conversations.selectors import ListState

MIN_QUERY = 2


@never_cache
@login_required
@require_GET
def search_view(request):
    query = request.GET.get("q", "").strip()
    results = search(user=request.user, query=query) if len(query) >= MIN_QUERY else None
    context = {"query": query, "results": results, "list_query": ListState.from_query(request.GET).query}
    return render(request, "workspace/_search_results.html", context)
