"""The report's charts, drawn on the server as SVG: each chart is its data (columns and rows, which its
table for screen readers and its CSV download show as they are) and the shapes drawn from it. Colours
come from the stylesheet's classes, so dark mode needs nothing here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils.translation import gettext_lazy as _

from conversations.reports.figures import DURATIONS, SLA_TARGETS, Figures, Report
from inbox.durations import span_said

CHANNEL_NAMES = {
    "webchat": _("Website chat"),
    "email": _("Email"),
    "sms": _("SMS"),
    "messenger": _("Messenger"),
    "fake": _("Test channel"),
}
DURATION_NAMES = {
    "first_response": _("First response"),
    "next_response": _("Next response"),
    "first_resolution": _("First resolution"),
    "full_resolution": _("Full resolution"),
}
TARGET_NAMES = {
    "first_response": _("First response"),
    "next_response": _("Next response"),
    "resolution": _("Resolution"),
}
WEEKDAYS = (_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday"))
WIDTH, HEIGHT = 720, 180


@dataclass
class Chart:
    key: str
    title: str
    columns: list[str]
    rows: list[list]
    shapes: dict = field(default_factory=dict)
    # A table that is the chart itself (the channels side by side) shows; the others' tables are for
    # screen readers, and a button shows them.
    table_shown: bool = False

    def table(self) -> list[list[tuple]]:
        """The rows as the page shows them: each cell (value, as people read it). A figure in seconds
        reads as a duration, a share as a percentage; its label ends in "(s)" or "(%)" (the row's own
        label where rows are figures, the column's elsewhere)."""
        shown = []
        for row in self.rows:
            cells = [(row[0], row[0])]
            for column, value in zip(self.columns[1:], row[1:], strict=True):
                label = str(row[0]) if self.key == "channels" else column
                cells.append((value, _readable(value, label)))
            shown.append(cells)
        return shown


def _readable(value, label: str):
    if value is None:
        return "–"
    if label.endswith("(s)"):
        return span_said(value)
    if label.endswith("(%)"):
        return f"{value:g}%"
    return value


def charts(report: Report) -> list[Chart]:
    return [
        volume_chart(report),
        channels_chart(report),
        sla_chart(report),
        csat_chart(report),
        heatmap_chart(report),
        attribution_chart(report),
    ]


def _buckets(volume: list[tuple[date, int, int]]) -> tuple[str, list[tuple[date, int, int]]]:
    """Days for two months or less, weeks (from Monday) for a year or less, months beyond."""
    if len(volume) <= 62:
        return "day", volume
    size = "week" if len(volume) <= 366 else "month"
    merged: dict[date, list[int]] = {}
    for day, messages_in, messages_out in volume:
        start = day - timedelta(days=day.weekday()) if size == "week" else day.replace(day=1)
        counts = merged.setdefault(start, [0, 0])
        counts[0] += messages_in
        counts[1] += messages_out
    return size, [(start, *counts) for start, counts in merged.items()]


def volume_chart(report: Report) -> Chart:
    size, rows = _buckets(report.volume)
    period = {"day": _("Day"), "week": _("Week starting"), "month": _("Month")}[size]
    top = max([max(i, o) for _day, i, o in rows] + [1])
    slot = WIDTH / max(len(rows), 1)
    bar = max(slot / 2 - 1, 0.5)
    bars = []
    for n, (start, messages_in, messages_out) in enumerate(rows):
        for offset, value, css, name in ((0, messages_in, "bar-in", _("in")), (bar, messages_out, "bar-out", _("out"))):
            height = HEIGHT * value / top
            bars.append(
                {
                    "x": round(n * slot + offset, 2),
                    "y": round(HEIGHT - height, 2),
                    "width": round(bar, 2),
                    "height": round(height, 2),
                    "css": css,
                    "title": f"{start.isoformat()}: {value} {name}",
                }
            )
    ticks = sorted({0, len(rows) // 2, len(rows) - 1}) if rows else []
    return Chart(
        "volume",
        _("Messages in and out"),
        [str(period), str(_("Messages in")), str(_("Messages out"))],
        [[start.isoformat(), messages_in, messages_out] for start, messages_in, messages_out in rows],
        {
            "bars": bars,
            "top": top,
            "ticks": [{"x": round(i * slot, 2), "label": rows[i][0]} for i in ticks],
        },
    )


def _channel_rows(report: Report) -> list[tuple[str, Figures]]:
    return [(str(CHANNEL_NAMES.get(f.channel, f.channel)), f) for f in report.channels] + [
        (str(_("All channels")), report.total)
    ]


def channels_chart(report: Report) -> Chart:
    """Every figure (a row each) for every channel (a column each), then all channels together."""
    channels = _channel_rows(report)
    rows = [
        [str(_("Opened"))] + [f.opened for _name, f in channels],
        [str(_("Resolved"))] + [f.resolved for _name, f in channels],
        [str(_("Messages in"))] + [f.messages_in for _name, f in channels],
        [str(_("Messages out"))] + [f.messages_out for _name, f in channels],
    ]
    for name in DURATIONS:
        rows.append([f"{DURATION_NAMES[name]}: {_('median')} (s)"] + [f.durations[name].median for _n, f in channels])
        rows.append(
            [f"{DURATION_NAMES[name]}: {_('90th percentile')} (s)"] + [f.durations[name].p90 for _n, f in channels]
        )
    for target in SLA_TARGETS:
        rows.append(
            [f"{_('SLA met')}: {TARGET_NAMES[target]} (%)"] + [_percent(f.sla_attainment(target)) for _n, f in channels]
        )
    rows.append([str(_("Satisfied (%)"))] + [_percent(f.csat_satisfied) for _n, f in channels])
    rows.append([str(_("Survey response rate (%)"))] + [_percent(f.csat_response_rate) for _n, f in channels])
    # The drawing: each channel's median first response (the bar) and 90th percentile (the whisker).
    per_channel = [(name, f.durations["first_response"]) for name, f in channels[:-1]]
    top = max([d.p90 or 0 for _name, d in per_channel] + [1])
    bars = []
    for i, (name, d) in enumerate(per_channel):
        width, p90 = round(360 * (d.median or 0) / top, 2), round(360 * (d.p90 or 0) / top, 2)
        bars.append(
            {
                "y": i * 28,
                "label": name,
                "width": width,
                "p90": p90,
                "median": d.median,
                "p90_value": d.p90,
                "text_x": 146 + max(width, p90),
            }
        )
    shapes = {"bars": bars, "height": 28 * len(bars)}
    columns = [str(_("Figure"))] + [name for name, _f in channels]
    return Chart("channels", _("Every channel side by side"), columns, rows, shapes, table_shown=True)


def _percent(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def sla_chart(report: Report) -> Chart:
    rows = [
        [str(TARGET_NAMES[t]), report.total.sla[t][0], report.total.sla[t][1], _percent(report.total.sla_attainment(t))]
        for t in SLA_TARGETS
    ]
    bars = [
        {"y": i * 28, "label": row[0], "width": round(3 * (row[3] or 0), 2), "value": row[3]}
        for i, row in enumerate(rows)
    ]
    return Chart(
        "sla",
        _("Service levels met"),
        [str(_("Target")), str(_("Met")), str(_("Breached")), str(_("Met (%)"))],
        rows,
        {"bars": bars, "height": 28 * len(bars)},
    )


def csat_chart(report: Report) -> Chart:
    ratings = report.total.csat_ratings
    top = max(ratings + [1])
    bars = [
        {
            "x": i * 96,
            "height": round(140 * count / top, 2),
            "y": round(140 - 140 * count / top, 2),
            "rating": i + 1,
            "count": count,
            "css": "bar-good" if i >= 3 else "bar-bad" if i <= 1 else "bar-mid",
        }
        for i, count in enumerate(ratings)
    ]
    return Chart(
        "csat",
        _("Satisfaction ratings"),
        [str(_("Rating")), str(_("Answers"))],
        [[i + 1, count] for i, count in enumerate(ratings)],
        {"bars": bars},
    )


def heatmap_chart(report: Report) -> Chart:
    top = max([max(row) for row in report.heatmap] + [1])
    cells = [
        {
            "x": 96 + hour * 26,
            "y": day * 24,
            "value": value,
            "opacity": round(0.08 + 0.92 * value / top, 3) if value else 0,
        }
        for day, row in enumerate(report.heatmap)
        for hour, value in enumerate(row)
    ]
    return Chart(
        "heatmap",
        _("Busiest hours: customers' messages"),
        [str(_("Weekday"))] + [f"{hour:02d}:00" for hour in range(24)],
        [[str(WEEKDAYS[day]), *row] for day, row in enumerate(report.heatmap)],
        {
            "cells": cells,
            "days": [{"y": d * 24 + 16, "label": WEEKDAYS[d]} for d in range(7)],
            "hours": [{"x": 96 + hour * 26, "label": f"{hour:02d}"} for hour in range(0, 24, 3)],
        },
    )


def attribution_chart(report: Report) -> Chart:
    rows = [
        [str(CHANNEL_NAMES.get(first, first)), str(CHANNEL_NAMES.get(channel, channel)), count]
        for (first, channel), count in sorted(report.attribution.items(), key=lambda item: -item[1])
    ]
    new = [[str(CHANNEL_NAMES.get(f.channel, f.channel)), f.new_customers] for f in report.channels if f.new_customers]
    return Chart(
        "attribution",
        _("Where customers first came from, and where they were resolved"),
        [str(_("Customer first came through")), str(_("Resolved on")), str(_("Conversations resolved"))],
        rows,
        {"new_customers": new},
        table_shown=True,
    )
