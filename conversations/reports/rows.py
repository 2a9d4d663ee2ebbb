"""The report's conversations one by one, for the row-per-conversation export: every conversation with
something in the range, under the report's filters, page by keyset page (no row limit)."""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet

from conversations.models import ConversationFact
from conversations.reports.figures import ReportFilter

PAGE = 2000


def _facts(rf: ReportFilter) -> QuerySet[ConversationFact]:
    in_range = reduce(or_, (Q(**{f"{date}__gte": rf.start, f"{date}__lt": rf.end}) for date in ConversationFact.DATES))
    qs = ConversationFact.objects.filter(in_range)
    if rf.inbox_ids is not None:
        qs = qs.filter(inbox_id__in=rf.inbox_ids)
    if rf.channel:
        qs = qs.filter(channel=rf.channel)
    if rf.team_id:
        qs = qs.filter(team_id=rf.team_id)
    if rf.agent_id:
        qs = qs.filter(Q(assignee_id=rf.agent_id) | Q(first_response_agent_id=rf.agent_id))
    if rf.label_id:
        qs = qs.filter(conversation__labels=rf.label_id)
    return qs


def fact_rows(rf: ReportFilter, *, after: int = 0, limit: int | None = None) -> list[ConversationFact]:
    """One page of rows after conversation ``after``, with what the export names (three queries)."""
    return list(
        _facts(rf)
        .filter(conversation_id__gt=after)
        .select_related("inbox", "team", "assignee", "first_response_agent", "conversation__customer")
        .prefetch_related("conversation__labels")
        .order_by("conversation_id")[: limit or PAGE]
    )
