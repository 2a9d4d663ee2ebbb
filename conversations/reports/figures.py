"""The reports' figures, read from the pre-aggregates only (never from messages), in three queries
whatever the range: the conversations' rows, the next responses, and the hourly volume. Durations come
back as arrays, and their medians and 90th percentiles are taken here (nearest rank: the smallest value
with at least that share of values at or below it). docs/metrics.md defines each figure.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.db import connection

from conversations.models import ConversationFact, ResponseFact, VolumeFact

CHANNELS = ("webchat", "email", "sms", "messenger", "fake")
SLA_TARGETS = ("first_response", "next_response", "resolution")
DURATIONS = ("first_response", "next_response", "first_resolution", "full_resolution")
# The durations' two clocks, as (a name's suffix, the facts' column suffix).
CLOCKS = [("", "seconds"), ("_business", "business_seconds")]
COUNTS = ("opened", "new_customers", "resolved", "first_resolved", "reopened", "messages_in", "messages_out")


@dataclass(frozen=True)
class ReportFilter:
    """What a report covers: [start, end) and the filters, all optional but the range. ``inbox_ids``
    None means every inbox (an admin's report); ``business`` counts durations in business hours."""

    start: datetime
    end: datetime
    time_zone: ZoneInfo
    inbox_ids: tuple[int, ...] | None = None
    channel: str = ""
    team_id: int | None = None
    agent_id: int | None = None
    label_id: int | None = None
    business: bool = False


@dataclass
class Durations:
    """Durations in seconds: how many, their median and 90th percentile (nearest rank), and mean."""

    values: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def count(self) -> int:
        return int(self.values.size)

    def percentile(self, share: float) -> int | None:
        if not self.values.size:
            return None
        return int(np.percentile(self.values, share, method="inverted_cdf"))

    @property
    def median(self) -> int | None:
        return self.percentile(50)

    @property
    def p90(self) -> int | None:
        return self.percentile(90)

    @property
    def mean(self) -> float | None:
        return float(self.values.mean()) if self.values.size else None

    def __add__(self, other: Durations) -> Durations:
        return Durations(np.concatenate([self.values, other.values]))


@dataclass
class Figures:
    """Every figure of one channel, or of all of them (``channel`` "")."""

    channel: str = ""
    opened: int = 0
    new_customers: int = 0
    resolved: int = 0
    first_resolved: int = 0
    reopened: int = 0
    messages_in: int = 0
    messages_out: int = 0
    durations: dict[str, Durations] = field(default_factory=lambda: {name: Durations() for name in DURATIONS})
    sla: dict[str, list[int]] = field(
        default_factory=lambda: {target: [0, 0] for target in SLA_TARGETS}
    )  # met, breached
    csat_asked: int = 0
    csat_ratings: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])

    def add(self, other: Figures) -> None:
        for name in (
            "opened",
            "new_customers",
            "resolved",
            "first_resolved",
            "reopened",
            "messages_in",
            "messages_out",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name, durations in other.durations.items():
            self.durations[name] = self.durations.get(name, Durations()) + durations
        for target in SLA_TARGETS:
            self.sla[target] = [a + b for a, b in zip(self.sla[target], other.sla[target], strict=True)]
        self.csat_asked += other.csat_asked
        self.csat_ratings = [a + b for a, b in zip(self.csat_ratings, other.csat_ratings, strict=True)]

    def sla_attainment(self, target: str) -> float | None:
        """The share of clocks settled in the range that met their target, in percent."""
        met, breached = self.sla[target]
        return 100.0 * met / (met + breached) if met + breached else None

    @property
    def csat_answered(self) -> int:
        return sum(self.csat_ratings)

    @property
    def csat_satisfied(self) -> float | None:
        """The share of ratings that are 4 or 5, in percent."""
        return (
            100.0 * (self.csat_ratings[3] + self.csat_ratings[4]) / self.csat_answered if self.csat_answered else None
        )

    @property
    def csat_response_rate(self) -> float | None:
        return 100.0 * self.csat_answered / self.csat_asked if self.csat_asked else None

    @property
    def reopen_rate(self) -> float | None:
        return 100.0 * self.reopened / self.first_resolved if self.first_resolved else None


@dataclass
class Report:
    filter: ReportFilter
    total: Figures
    channels: list[Figures]  # those with anything to show, in CHANNELS order
    volume: list[tuple[date, int, int]]  # every day of the range: messages in, out
    heatmap: list[list[int]]  # [weekday 0 = Monday][hour]: customers' messages
    attribution: dict[tuple[str, str], int]  # (first channel, channel) → conversations resolved


def facts_report(rf: ReportFilter, *, both_clocks: bool = False) -> Report:
    """Every figure of the filter's range, from the facts themselves: three queries, whatever the
    filters (the daily rollup adds up days instead, conversations.reports.days). ``both_clocks``
    adds each duration in business hours too, as "<name>_business" (for the rollup)."""
    by_channel: dict[str, Figures] = defaultdict(Figures)
    clocks = CLOCKS if both_clocks else [("", "business_seconds" if rf.business else "seconds")]
    attribution = _conversation_figures(rf, by_channel, clocks)
    _response_figures(rf, by_channel, clocks)
    volume, heatmap = _volume_figures(rf, by_channel)
    return assemble(rf, by_channel, attribution, volume, heatmap)


def assemble(report_filter, by_channel, attribution, volume, heatmap) -> Report:
    """The report of figures gathered per channel: the channels in CHANNELS order, and their total."""
    total = Figures()
    channels = []
    for channel in CHANNELS:
        if channel in by_channel:
            figures = by_channel[channel]
            figures.channel = channel
            channels.append(figures)
            total.add(figures)
    return Report(report_filter, total, channels, volume, heatmap, attribution)


# ---- the queries -----------------------------------------------------------------------------------------


class _Sql:
    """A query's conditions and parameters, built from the filter; ``f`` is the conversations' rows."""

    def __init__(self, report_filter: ReportFilter):
        self.filter, self.where, self.params = report_filter, [], []

    def add(self, condition: str, *params) -> None:
        self.where.append(condition)
        self.params.extend(_adapted(params))

    def scope(self, table: str, *, agent_column: str | None) -> None:
        rf = self.filter
        if rf.inbox_ids is not None:
            self.add(f"{table}.inbox_id IN ({', '.join(['%s'] * len(rf.inbox_ids)) or 'NULL'})", *rf.inbox_ids)
        if rf.channel:
            self.add(f"{table}.channel = %s", rf.channel)
        if rf.team_id:
            self.add("f.team_id = %s", rf.team_id)
        if rf.agent_id and agent_column:
            self.add(f"{agent_column} = %s", rf.agent_id)
        if rf.label_id:
            self.add(
                "EXISTS (SELECT 1 FROM conversations_conversation_labels cl "
                "WHERE cl.conversation_id = f.conversation_id AND cl.label_id = %s)",
                rf.label_id,
            )

    def run(self, select: str, table: str, group: str) -> list[tuple]:
        sql = f"SELECT {select} FROM {table} WHERE {' AND '.join(self.where) or '1=1'} GROUP BY {group}"
        with connection.cursor() as cursor:
            cursor.execute(sql, self.params)
            return cursor.fetchall()


def _adapted(params) -> list:
    """Moments as the database stores them: SQLite compares text, so a time in another zone than UTC
    would compare wrong (the ORM does this for its own queries)."""
    return [
        connection.ops.adapt_datetimefield_value(p.astimezone(UTC)) if isinstance(p, datetime) else p for p in params
    ]


def _values(column: str, condition: str) -> str:
    """An aggregate of a column's values where ``condition`` holds, read back by ``_array``."""
    if connection.vendor == "postgresql":
        return f"array_send(array_agg({column}) FILTER (WHERE {condition} AND {column} IS NOT NULL))"
    return f"group_concat({column}) FILTER (WHERE {condition} AND {column} IS NOT NULL)"


def _array(value) -> np.ndarray:
    """Integers from ``_values``: PostgreSQL's binary int4[] (header, then a length and a value per
    element, big-endian), or the comma-separated text of other databases."""
    if value is None:
        return np.empty(0, dtype=np.int64)
    if isinstance(value, str):
        return np.array([int(v) for v in value.split(",") if v], dtype=np.int64)
    words = np.frombuffer(bytes(value), dtype=">i4")
    if not words.size or words[0] == 0:
        return np.empty(0, dtype=np.int64)
    return words[3 + 2 * int(words[0]) :][1::2].astype(np.int64)


def _in(column: str) -> str:
    return f"{column} >= %s AND {column} < %s"


def _conversation_figures(rf: ReportFilter, by_channel: dict[str, Figures], clocks) -> dict[tuple[str, str], int]:
    query = _Sql(rf)
    # Only rows with something in the range (each date indexed, for a day's rollup).
    dates = " OR ".join(f"(f.{date} >= %s AND f.{date} < %s)" for date in ConversationFact.DATES)
    query.add(f"({dates})", *[moment for _date in ConversationFact.DATES for moment in (rf.start, rf.end)])
    mine = "f.assignee_id = %s"
    if rf.agent_id:
        # Their conversations, and the first responses they wrote in anyone's.
        query.add("(f.assignee_id = %s OR f.first_response_agent_id = %s)", rf.agent_id, rf.agent_id)
    query.scope("f", agent_column=None)
    ranged = {
        "opened": _in("f.opened_at"),
        "resolved": _in("f.resolved_at"),
        "first_resolved": _in("f.first_resolved_at"),
        "first_response": _in("f.first_response_at"),
        "sla_first": _in("f.sla_first_response_at"),
        "sla_resolution": _in("f.sla_resolution_at"),
        "csat": _in("f.csat_asked_at"),
    }

    def where(name: str, *, own: str = mine) -> tuple[str, list]:
        """A figure's condition and its parameters: its date in the range, and, for an agent's report,
        the conversation theirs (``own``)."""
        if rf.agent_id:
            return f"{ranged[name]} AND {own}", [rf.start, rf.end, rf.agent_id]
        return ranged[name], [rf.start, rf.end]

    columns, params = [], []

    def column(template: str, name: str, *, own: str = mine) -> None:
        condition, condition_params = where(name, own=own)
        columns.append(template.format(c=condition))
        params.extend(condition_params)

    column("count(*) FILTER (WHERE {c})", "opened")
    column("count(*) FILTER (WHERE {c} AND f.customer_first)", "opened")
    column("count(*) FILTER (WHERE {c})", "resolved")
    column("count(*) FILTER (WHERE {c})", "first_resolved")
    column("count(*) FILTER (WHERE {c} AND f.reopens > 0)", "first_resolved")
    for outcome in ("met", "breached"):
        column(f"count(*) FILTER (WHERE {{c}} AND f.sla_first_response = '{outcome}')", "sla_first")
    for outcome in ("met", "breached"):
        column(f"count(*) FILTER (WHERE {{c}} AND f.sla_resolution = '{outcome}')", "sla_resolution")
    column("count(*) FILTER (WHERE {c})", "csat")
    for rating in range(1, 6):
        column(f"count(*) FILTER (WHERE {{c}} AND f.csat_rating = {rating})", "csat")
    # The durations last, three for each clock asked for.
    durations = [("first_response", "first_response"), ("first_resolution", "first_resolved")]
    durations.append(("full_resolution", "resolved"))
    for _name_suffix, column_suffix in clocks:
        for name, date_name in durations:
            own = "f.first_response_agent_id = %s" if name == "first_response" else mine
            condition, condition_params = where(date_name, own=own)
            stored = "resolution" if name == "full_resolution" else name
            columns.append(_values(f"f.{stored}_{column_suffix}", condition))
            params.extend(condition_params)
    select = "f.channel, f.customer_first_channel, " + ", ".join(columns)
    query.params = _adapted(params) + query.params
    attribution: dict[tuple[str, str], int] = {}
    table = f"{ConversationFact._meta.db_table} f"
    for row in query.run(select, table, "f.channel, f.customer_first_channel"):
        channel, first_channel, *values = row
        figures = Figures()
        (figures.opened, figures.new_customers, figures.resolved, figures.first_resolved, figures.reopened) = values[:5]
        figures.sla["first_response"] = [values[5], values[6]]
        figures.sla["resolution"] = [values[7], values[8]]
        figures.csat_asked, figures.csat_ratings = values[9], list(values[10:15])
        arrays = iter(values[15:])
        for name_suffix, _column_suffix in clocks:
            for name, _date_name in durations:
                figures.durations[name + name_suffix] = Durations(_array(next(arrays)))
        by_channel[channel].add(figures)
        if figures.resolved:
            attribution[(first_channel, channel)] = attribution.get((first_channel, channel), 0) + figures.resolved
    return attribution


def _joins_conversations(rf: ReportFilter) -> bool:
    return bool(rf.team_id or rf.label_id)


def _response_figures(rf: ReportFilter, by_channel: dict[str, Figures], clocks) -> None:
    query = _Sql(rf)
    query.add("r.at >= %s AND r.at < %s", rf.start, rf.end)
    query.scope("r", agent_column="r.agent_id")
    table = f"{ResponseFact._meta.db_table} r"
    if _joins_conversations(rf):
        table += f" JOIN {ConversationFact._meta.db_table} f ON f.conversation_id = r.conversation_id"
    else:
        # The label filter's EXISTS names the conversation as f.
        query.where = [w.replace("f.conversation_id", "r.conversation_id") for w in query.where]
    arrays = ", ".join(_values(f"r.{column_suffix}", "1=1") for _name_suffix, column_suffix in clocks)
    select = f"r.channel, count(*) FILTER (WHERE r.sla = 'met'), count(*) FILTER (WHERE r.sla = 'breached'), {arrays}"
    for channel, met, breached, *values in query.run(select, table, "r.channel"):
        figures = Figures()
        for (name_suffix, _column_suffix), array in zip(clocks, values, strict=True):
            figures.durations["next_response" + name_suffix] = Durations(_array(array))
        figures.sla["next_response"] = [met, breached]
        by_channel[channel].add(figures)


def _volume_figures(rf: ReportFilter, by_channel: dict[str, Figures]) -> tuple[list, list]:
    """Messages by hour, summed per channel: the days, the busiest hours and the totals are then
    taken in the report's time zone (a zone half an hour off UTC is counted by whole UTC hours)."""
    query = _Sql(rf)
    query.add("v.hour >= %s AND v.hour < %s", rf.start, rf.end)
    query.scope("v", agent_column="f.assignee_id" if rf.agent_id else None)
    table = f"{VolumeFact._meta.db_table} v"
    if _joins_conversations(rf) or rf.agent_id:
        table += f" JOIN {ConversationFact._meta.db_table} f ON f.conversation_id = v.conversation_id"
    else:
        query.where = [w.replace("f.conversation_id", "v.conversation_id") for w in query.where]
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    heatmap = [[0] * 24 for _ in range(7)]

    def count(channel, day, weekday, hour, messages_in, messages_out):
        if day is not None:
            days[day][0] += messages_in
            days[day][1] += messages_out
        if weekday is not None:
            heatmap[weekday][hour] += messages_in
        if channel is not None:
            by_channel[channel].messages_in += messages_in
            by_channel[channel].messages_out += messages_out

    if connection.vendor == "postgresql":
        # Days, hours and channels grouped by the database (a year is some 9,000 hours a channel):
        # three small sets of sums instead of a row an hour.
        # The zone is written in (a known zone's name, checked): the same expression must appear in
        # SELECT and GROUP BY, and two bound parameters would be two expressions.
        zone = rf.time_zone.key
        assert re.fullmatch(r"[A-Za-z0-9_/+-]+", zone), zone
        local = f"(v.hour AT TIME ZONE '{zone}')"
        day, weekday, hour = f"({local})::date", f"extract(isodow FROM {local})", f"extract(hour FROM {local})"
        select = f"v.channel, {day}, {weekday}::int - 1, {hour}::int, sum(v.messages_in)::int, sum(v.messages_out)::int"
        grouping = f"GROUPING SETS ((v.channel), ({day}), ({weekday}, {hour}))"
        for channel, day, weekday, hour, messages_in, messages_out in query.run(select, table, grouping):
            count(channel, day, weekday if hour is not None else None, hour, messages_in, messages_out)
    else:
        select = "v.hour, v.channel, sum(v.messages_in), sum(v.messages_out)"
        for hour, channel, messages_in, messages_out in query.run(select, table, "v.hour, v.channel"):
            if isinstance(hour, str):  # SQLite hands back text
                hour = datetime.fromisoformat(hour)
            moment = (hour if hour.tzinfo else hour.replace(tzinfo=UTC)).astimezone(rf.time_zone)
            count(channel, moment.date(), moment.weekday(), moment.hour, messages_in, messages_out)
    first = rf.start.astimezone(rf.time_zone).date().toordinal()
    last = (rf.end - timedelta(microseconds=1)).astimezone(rf.time_zone).date().toordinal()
    volume = [(date.fromordinal(n), *days.get(date.fromordinal(n), [0, 0])) for n in range(first, last + 1)]
    return volume, heatmap


def typical_first_response(*, inbox_id: int, days: int = 30, now: datetime | None = None) -> int | None:
    """The inbox's median first response over the last ``days`` (calendar time, in seconds): what the
    widget tells visitors to expect ("we usually reply within …"). None without any."""
    from django.utils import timezone

    since = (now or timezone.now()) - timedelta(days=days)
    values = ConversationFact.objects.filter(
        inbox_id=inbox_id, first_response_at__gte=since, first_response_seconds__isnull=False
    ).values_list("first_response_seconds", flat=True)
    return Durations(np.array(list(values[:20000]), dtype=np.int64)).median
