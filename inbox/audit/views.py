"""The audit log for admins: who did what and when, filtered by the address, and as CSV."""

import json

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from conversations.selectors import Cursor
from inbox import csv_stream
from inbox.accounts.permissions import admin_required
from inbox.audit.selectors import AuditFilters, audit_entries, audit_filter_choices

EXPORT_PAGE = 1000
CSV_COLUMNS = [
    "at",
    "actor",
    "actor_id",
    "action",
    "inbox",
    "inbox_id",
    "target_type",
    "target_id",
    "summary",
    "details",
]


@never_cache
@admin_required
@require_GET
def audit_log(request):
    filters = AuditFilters.from_query(request.GET)
    cursor = Cursor.decode(request.GET.get("before"))
    entries, next_cursor = audit_entries(filters=filters, cursor=cursor)
    context = {
        "entries": entries,
        "next_cursor": next_cursor.encode() if next_cursor else "",
        "cursor": cursor,
        "filters": filters,
        "settings_section": "audit",
    }
    if request.htmx and cursor:
        return render(request, "audit/_rows.html", context)  # the next page, for the infinite scroll
    choices = audit_filter_choices(current_action=filters.action)
    return render(request, "audit/log.html", {**context, "choices": choices})


def _csv_row(entry) -> list[str]:
    values = (
        entry.at.isoformat(),
        entry.actor_name,
        entry.actor_id,
        entry.action,
        entry.inbox_name,
        entry.inbox_id,
        entry.target_type,
        entry.target_id,
        entry.summary,
        json.dumps(entry.details, ensure_ascii=False, sort_keys=True),
    )
    return csv_stream.row(values)


async def _csv_rows(filters: AuditFilters):
    # Asynchronous, page by keyset page: Daphne would otherwise read a synchronous iterator to the
    # end into memory before sending a byte, and the log can be long.
    writer = csv_stream.writer()
    yield writer.writerow(CSV_COLUMNS)
    cursor = None
    while True:
        entries, cursor = await sync_to_async(audit_entries)(filters=filters, cursor=cursor, limit=EXPORT_PAGE)
        yield "".join(writer.writerow(_csv_row(entry)) for entry in entries)
        if cursor is None:
            return


@never_cache
@admin_required
@require_GET
def audit_export(request):
    """The entries the same filters show, all of them, as CSV (streamed: the log can be long)."""
    filters = AuditFilters.from_query(request.GET)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return StreamingHttpResponse(
        _csv_rows(filters),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )
