"""The reports' daily rollup: one row per inbox and day (in REPORTS_TIME_ZONE), so that a report of a
year reads a few thousand rows, not every conversation's.

A change to a conversation's facts marks the days it touches dirty, once committed (``days_dirty``);
``report_days_refresh`` works those days out again from the facts, with the very query a filtered
report runs on the facts (``figures.facts_report`` over one day and one inbox), so the two can
never disagree. The report page refreshes what is dirty before it reads, and beat does it every
REPORTS_ROLLUP_SECONDS, so a page is always exact. Marking happens after commit: a refresh that
read the facts before a change committed is followed by another, because the change marks its day
only once it is visible.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import transaction

from conversations.models import ReportDay, ReportDayDirty
from conversations.reports import figures as f

DURATION_COLUMNS = [(name, business) for name in f.DURATIONS for business in (False, True)]


def report_zone() -> ZoneInfo:
    return ZoneInfo(settings.REPORTS_TIME_ZONE)


def day_of(moment: datetime) -> date:
    return moment.astimezone(report_zone()).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = report_zone()
    return datetime.combine(day, time.min, tzinfo=zone), datetime.combine(
        day + timedelta(days=1), time.min, tzinfo=zone
    )


def days_dirty(inbox_id: int, *moments: datetime | None) -> None:
    """After commit, mark the days of these moments of this inbox for working out again."""
    days = {day_of(moment) for moment in moments if moment is not None}
    if days:
        transaction.on_commit(
            lambda: ReportDayDirty.objects.bulk_create(
                [ReportDayDirty(day=day, inbox_id=inbox_id) for day in days], ignore_conflicts=True
            )
        )


def report_days_refresh(*, limit: int = 1000) -> int:
    """Work out again every dirty day (the oldest first, at most ``limit``); returns how many."""
    with transaction.atomic():
        dirty = list(ReportDayDirty.objects.select_for_update(skip_locked=True).order_by("day", "inbox_id")[:limit])
        ReportDayDirty.objects.filter(pk__in=[row.pk for row in dirty]).delete()
    # Read in transactions of their own, begun after the marks are gone: what changes from here on
    # marks its day again.
    for row in dirty:
        report_day_recompute(day=row.day, inbox_id=row.inbox_id)
    return len(dirty)


def days_report(rf: f.ReportFilter) -> f.Report:
    """The figures of whole days, added up from the daily rollup (days in REPORTS_TIME_ZONE)."""
    report_days_refresh()  # whatever changed since the last sweep, first: the page is exact
    by_channel: dict[str, f.Figures] = defaultdict(f.Figures)
    first, last = day_of(rf.start), day_of(rf.end - timedelta(microseconds=1))
    rows = ReportDay.objects.filter(day__gte=first, day__lte=last)
    if rf.inbox_ids is not None:
        rows = rows.filter(inbox_id__in=rf.inbox_ids)
    if rf.channel:
        rows = rows.filter(channel=rf.channel)
    suffix = "_business" if rf.business else ""
    arrays: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    attribution: dict[tuple[str, str], int] = defaultdict(int)
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    heatmap = [[0] * 24 for _ in range(7)]
    for row in rows:
        figures = by_channel[row.channel]
        for name in (
            "opened",
            "new_customers",
            "resolved",
            "first_resolved",
            "reopened",
            "messages_in",
            "messages_out",
        ):
            setattr(figures, name, getattr(figures, name) + getattr(row, name))
        for target in f.SLA_TARGETS:
            met, breached = row.sla.get(target, (0, 0))
            figures.sla[target] = [figures.sla[target][0] + met, figures.sla[target][1] + breached]
        figures.csat_asked += row.csat_asked
        figures.csat_ratings = [a + b for a, b in zip(figures.csat_ratings, row.csat_ratings or [0] * 5, strict=True)]
        for name in f.DURATIONS:
            arrays[row.channel][name].append(durations_of(row, name + suffix))
        for first_channel, count in row.attribution.items():
            attribution[(first_channel, row.channel)] += count
        days[row.day][0] += row.messages_in
        days[row.day][1] += row.messages_out
        heatmap[row.day.weekday()] = [a + b for a, b in zip(heatmap[row.day.weekday()], row.hours, strict=True)]
    for channel, named in arrays.items():
        for name, parts in named.items():
            by_channel[channel].durations[name] = f.Durations(np.concatenate(parts))
    volume = [
        (date.fromordinal(n), *days.get(date.fromordinal(n), [0, 0]))
        for n in range(first.toordinal(), last.toordinal() + 1)
    ]
    return f.assemble(rf, by_channel, dict(attribution), volume, heatmap)


def report_day_recompute(*, day: date, inbox_id: int) -> ReportDay | None:
    """One inbox's day, from its facts: calendar and business-hours durations both."""
    start, end = day_bounds(day)
    where = f.ReportFilter(start=start, end=end, time_zone=report_zone(), inbox_ids=(inbox_id,))
    calendar = f.facts_report(where)
    business = f.facts_report(replace(where, business=True))
    totals = calendar.total
    values, directory = [], {}
    for name, in_business in DURATION_COLUMNS:
        # Sorted: the same day gives the same bytes, whatever order the rows came in.
        array = np.sort((business if in_business else calendar).total.durations[name].values).astype("<i4")
        directory[f"{name}_business" if in_business else name] = [sum(len(v) for v in values) // 4, len(array)]
        values.append(array.tobytes())
    channel = calendar.channels[0].channel if calendar.channels else ""
    fields = {
        "channel": channel,
        "opened": totals.opened,
        "new_customers": totals.new_customers,
        "resolved": totals.resolved,
        "first_resolved": totals.first_resolved,
        "reopened": totals.reopened,
        "messages_in": totals.messages_in,
        "messages_out": totals.messages_out,
        "sla": totals.sla,
        "csat_asked": totals.csat_asked,
        "csat_ratings": totals.csat_ratings,
        "hours": calendar.heatmap[day.weekday()],
        "attribution": {first: count for (first, _channel), count in calendar.attribution.items()},
        "durations": directory,
        "values": b"".join(values),
    }
    if not channel:
        ReportDay.objects.filter(day=day, inbox_id=inbox_id).delete()
        return None
    row, _ = ReportDay.objects.update_or_create(day=day, inbox_id=inbox_id, defaults=fields)
    return row


def report_days_rebuild() -> int:
    """Every day of every inbox again, from the facts (after ``facts_rebuild``, or a change of zone)."""
    from conversations.models import ConversationFact, ResponseFact, VolumeFact

    ReportDay.objects.all().delete()
    ReportDayDirty.objects.all().delete()
    pairs = set()
    for model, columns in (
        (
            ConversationFact,
            (
                "opened_at",
                "first_response_at",
                "first_resolved_at",
                "resolved_at",
                "sla_first_response_at",
                "sla_resolution_at",
                "csat_asked_at",
            ),
        ),
        (ResponseFact, ("at",)),
        (VolumeFact, ("hour",)),
    ):
        for column in columns:
            for inbox_id, moment in model.objects.exclude(**{column: None}).values_list("inbox_id", column).iterator():
                pairs.add((day_of(moment), inbox_id))
    for day, inbox_id in sorted(pairs):
        report_day_recompute(day=day, inbox_id=inbox_id)
    return len(pairs)


def durations_of(row: ReportDay, name: str) -> np.ndarray:
    """One packed array of a day's row."""
    offset, count = row.durations.get(name, (0, 0))
    return np.frombuffer(bytes(row.values), dtype="<i4", count=count, offset=offset * 4).astype(np.int64)
