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
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import transaction

from conversations.models import ReportDay, ReportDayDirty
from conversations.reports import figures as f


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


SLA_COLUMNS = [f"sla_{target}_{outcome}" for target in f.SLA_TARGETS for outcome in ("met", "breached")]
CSAT_COLUMNS = [f"csat_{rating}" for rating in range(1, 6)]
FIRST_CAME = [f"first_came_{channel}" for channel in f.CHANNELS]
NUMBERS = [*f.COUNTS, *SLA_COLUMNS, "csat_asked", *CSAT_COLUMNS, *FIRST_CAME]


def days_report(rf: f.ReportFilter) -> f.Report:
    """The figures of whole days, added up from the rollup: one query for a year of rows, then a few
    vectorised sums (a row's numbers are plain columns, its durations packed bytes)."""
    report_days_refresh()  # whatever changed since the last sweep, first: the page is exact
    first, last = day_of(rf.start), day_of(rf.end - timedelta(microseconds=1))
    rows = ReportDay.objects.filter(day__gte=first, day__lte=last)
    if rf.inbox_ids is not None:
        rows = rows.filter(inbox_id__in=rf.inbox_ids)
    if rf.channel:
        rows = rows.filter(channel=rf.channel)
    durations = [f"{name}_business" if rf.business else name for name in f.DURATIONS]
    found = list(rows.values_list("channel", "day", "hours", *durations, *NUMBERS))
    by_channel: dict[str, f.Figures] = {}
    attribution: dict[tuple[str, str], int] = {}
    heatmap = np.zeros((7, 24), dtype=np.int64)
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    lead = 3 + len(durations)
    numbers = np.array([row[lead:] for row in found], dtype=np.int64).reshape(len(found), len(NUMBERS))
    at = {name: i for i, name in enumerate(NUMBERS)}
    for channel in f.CHANNELS:
        mine = [i for i, row in enumerate(found) if row[0] == channel]
        if not mine:
            continue
        sums = numbers[mine].sum(axis=0)
        figures = by_channel[channel] = f.Figures(channel=channel)
        for name in f.COUNTS:
            setattr(figures, name, int(sums[at[name]]))
        for target in f.SLA_TARGETS:
            figures.sla[target] = [int(sums[at[f"sla_{target}_met"]]), int(sums[at[f"sla_{target}_breached"]])]
        figures.csat_asked = int(sums[at["csat_asked"]])
        figures.csat_ratings = [int(sums[at[name]]) for name in CSAT_COLUMNS]
        for n, name in enumerate(f.DURATIONS):
            packed = b"".join(bytes(found[i][3 + n]) for i in mine)
            figures.durations[name] = f.Durations(np.frombuffer(packed, dtype="<i4").astype(np.int64))
        for first_channel, column in zip(f.CHANNELS, FIRST_CAME, strict=True):
            if sums[at[column]]:
                attribution[(first_channel, channel)] = int(sums[at[column]])
    for row, counts in zip(found, numbers, strict=True):
        heatmap[row[1].weekday()] += np.frombuffer(bytes(row[2]), dtype="<i4")
        days[row[1]][0] += int(counts[at["messages_in"]])
        days[row[1]][1] += int(counts[at["messages_out"]])
    span = (date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1))
    volume = [(day, *days.get(day, [0, 0])) for day in span]
    return f.assemble(rf, by_channel, attribution, volume, heatmap.tolist())


def report_day_recompute(*, day: date, inbox_id: int) -> ReportDay | None:
    """One inbox's day, from its facts (three queries): calendar and business-hours durations both."""
    start, end = day_bounds(day)
    where = f.ReportFilter(start=start, end=end, time_zone=report_zone(), inbox_ids=(inbox_id,))
    calendar = f.facts_report(where, both_clocks=True)
    totals = calendar.total
    channel = calendar.channels[0].channel if calendar.channels else ""
    fields = {name: getattr(totals, name) for name in f.COUNTS}
    for target in f.SLA_TARGETS:
        fields[f"sla_{target}_met"], fields[f"sla_{target}_breached"] = totals.sla[target]
    fields["csat_asked"] = totals.csat_asked
    fields.update(zip(CSAT_COLUMNS, totals.csat_ratings, strict=True))
    resolved_by_first = {first: count for (first, _channel), count in calendar.attribution.items()}
    fields.update({column: resolved_by_first.get(c, 0) for c, column in zip(f.CHANNELS, FIRST_CAME, strict=True)})
    fields["channel"] = channel
    fields["hours"] = np.array(calendar.heatmap[day.weekday()], dtype="<i4").tobytes()
    for name in f.DURATIONS:
        for column in (name, f"{name}_business"):
            # Sorted: the same day gives the same bytes, whatever order the rows came in.
            fields[column] = np.sort(totals.durations.get(column, f.Durations()).values).astype("<i4").tobytes()
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
        (ConversationFact, ConversationFact.DATES),
        (ResponseFact, ("at",)),
        (VolumeFact, ("hour",)),
    ):
        for column in columns:
            for inbox_id, moment in model.objects.exclude(**{column: None}).values_list("inbox_id", column).iterator():
                pairs.add((day_of(moment), inbox_id))
    for day, inbox_id in sorted(pairs):
        report_day_recompute(day=day, inbox_id=inbox_id)
    return len(pairs)
