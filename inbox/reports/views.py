"""The Reports section: every figure of docs/metrics.md with its charts, for admins over every inbox and
for agents over their own work; each chart's data as CSV, and every conversation as a row of CSV."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from conversations.models import Label
from conversations.reports.report import report_figures
from conversations.reports.rows import fact_rows
from conversations.selectors import agent_inboxes, teams
from inbox import csv_stream
from inbox.models import Inbox
from inbox.reports.charts import CHANNEL_NAMES, charts
from inbox.reports.exports import CONVERSATION_COLUMNS, conversation_row
from inbox.reports.filters import PRESETS, ReportQuery


def _choices(request) -> dict:
    """What the filters offer: an admin every inbox, team, label and agent; an agent their inboxes."""
    staff = request.user.is_staff
    inboxes = list(Inbox.objects.order_by("name")) if staff else agent_inboxes(user=request.user)
    return {
        "inboxes": inboxes,
        "channels": [
            (kind, CHANNEL_NAMES[kind]) for kind in sorted({i.kind for i in inboxes}) if kind in CHANNEL_NAMES
        ],
        "teams": teams(),
        "labels": list(Label.objects.all()),
        "agents": list(get_user_model().objects.filter(is_active=True).order_by("first_name", "username"))
        if staff
        else [],
        "presets": PRESETS,
    }


@never_cache
@login_required
@require_GET
def report(request):
    query = ReportQuery.from_request(request)
    figures = report_figures(query.report_filter(request.user))
    context = {"query": query, "report": figures, "charts": charts(figures), **_choices(request)}
    return render(request, "reports/page.html", context)


@never_cache
@login_required
@require_GET
def chart_export(request):
    """One chart's data (``?chart=volume``…), exactly as its table shows it."""
    chart = request.GET.get("chart", "")
    query = ReportQuery.from_request(request)
    found = [c for c in charts(report_figures(query.report_filter(request.user))) if c.key == chart]
    if not found:
        raise Http404("No such chart.")
    writer = csv_stream.writer()
    body = writer.writerow(found[0].columns) + "".join(writer.writerow(csv_stream.row(r)) for r in found[0].rows)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{chart}-{_stamp(query)}.csv"'
    return response


@never_cache
@login_required
@require_GET
def conversations_export(request):
    """Every conversation of the report, one row each (streamed, no row limit)."""
    query = ReportQuery.from_request(request)
    report_filter = query.report_filter(request.user)

    async def rows():
        # Asynchronous, keyset page by page: Daphne reads a synchronous iterator to its end before sending.
        writer = csv_stream.writer()
        yield writer.writerow(CONVERSATION_COLUMNS)
        after = 0
        while True:
            page = await sync_to_async(fact_rows)(report_filter, after=after)
            if not page:
                return
            yield "".join(writer.writerow(conversation_row(fact, query.zone)) for fact in page)
            after = page[-1].conversation_id

    return StreamingHttpResponse(
        rows(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="conversations-{_stamp(query)}.csv"'},
    )


def _stamp(query: ReportQuery) -> str:
    return f"{query.first_day.isoformat()}-{query.last_day.isoformat()}-{timezone.now():%H%M}"
