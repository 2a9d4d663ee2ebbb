"""What a report covers, read from its address: the range (a preset or two dates, days in the team's
time zone, REPORTS_TIME_ZONE), the filters, and the clock (calendar or business hours). An admin's
report covers every inbox; an agent's covers their own work in their inboxes, whatever the address
says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations.reports.days import report_zone
from conversations.reports.figures import CHANNELS, ReportFilter
from conversations.selectors import visible_inbox_ids

PRESETS = {
    "7d": (_("Last 7 days"), 7),
    "30d": (_("Last 30 days"), 30),
    "90d": (_("Last 90 days"), 90),
    "12m": (_("Last 12 months"), 365),
}
DEFAULT_PRESET = "30d"
LONGEST_DAYS = 3 * 366  # a longer range is cut to this


def _number(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 10 else None


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ReportQuery:
    """The report's address, checked: every value is one the page offers, or left out."""

    preset: str
    first_day: date
    last_day: date  # inclusive
    zone: ZoneInfo
    inbox: int | None
    channel: str
    team: int | None
    agent: int | None
    label: int | None
    business: bool

    @classmethod
    def from_request(cls, request) -> ReportQuery:
        query = request.GET
        zone = report_zone()  # the team's days: the rollup is kept in them
        today = timezone.now().astimezone(zone).date()
        preset = query.get("range", "")
        first, last = _day(query.get("from", "")), _day(query.get("to", ""))
        if preset not in PRESETS and first and last and first <= last:
            preset, first = "custom", max(first, last - timedelta(days=LONGEST_DAYS - 1))
        else:
            preset = preset if preset in PRESETS else DEFAULT_PRESET
            first, last = today - timedelta(days=PRESETS[preset][1] - 1), today
        channel = query.get("channel", "")
        return cls(
            preset=preset,
            first_day=first,
            last_day=last,
            zone=zone,
            inbox=_number(query.get("inbox", "")),
            channel=channel if channel in CHANNELS else "",
            team=_number(query.get("team", "")),
            agent=_number(query.get("agent", "")),
            label=_number(query.get("label", "")),
            business=query.get("clock") == "business",
        )

    def report_filter(self, user) -> ReportFilter:
        """The figures' filter, within what the reader may see."""
        start = datetime.combine(self.first_day, time.min, tzinfo=self.zone)
        end = datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=self.zone)
        inbox_ids = None
        agent = self.agent
        if not user.is_staff:
            agent = user.pk  # an agent's report is their own work
            inbox_ids = tuple(visible_inbox_ids(user).values_list("inbox_id", flat=True))
        if self.inbox is not None:
            inbox_ids = (self.inbox,) if inbox_ids is None else tuple(pk for pk in inbox_ids if pk == self.inbox)
        return ReportFilter(
            start=start,
            end=end,
            time_zone=self.zone,
            inbox_ids=inbox_ids,
            channel=self.channel,
            team_id=self.team,
            agent_id=agent,
            label_id=self.label,
            business=self.business,
        )

    @property
    def query(self) -> str:
        """The address's query string, for exports and links that keep the report."""
        values = {
            "range": self.preset if self.preset != "custom" else "",
            "from": self.first_day.isoformat() if self.preset == "custom" else "",
            "to": self.last_day.isoformat() if self.preset == "custom" else "",
            "inbox": self.inbox or "",
            "channel": self.channel,
            "team": self.team or "",
            "agent": self.agent or "",
            "label": self.label or "",
            "clock": "business" if self.business else "",
        }
        return urlencode({key: value for key, value in values.items() if value})
