"""An inbox's business hours: when its team answers, in its own time zone.

A week of periods, several a day; a period that ends at or before its start runs past midnight into
the next day (a night shift, 22:00–06:00). A holiday (the country's public holidays, from the
``holidays`` library, and the inbox's own dates) has no periods of its own; a night shift that began
the evening before still runs into it. Times are compared in the inbox's zone, so a change of summer
time moves the hours with the clock on the wall.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

# How far back a closed period's start is looked for (a long holiday, a closed weekend and more).
LOOKBACK_DAYS = 21
# How far ahead a deadline counted in business hours is looked for: a schedule with no hours at all
# in a year never reaches one.
LOOKAHEAD_DAYS = 366


@dataclass(frozen=True)
class Schedule:
    zone: ZoneInfo
    weekly: dict[int, tuple[tuple[time, time], ...]]
    country: str = ""
    custom: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def of(cls, inbox) -> Schedule | None:
        """The inbox's schedule, or None when it keeps no business hours (always open)."""
        if not inbox.hours_enabled:
            return None
        weekly = {
            int(day): tuple((time.fromisoformat(start), time.fromisoformat(end)) for start, end in periods)
            for day, periods in (inbox.weekly_hours or {}).items()
        }
        custom = frozenset(date.fromisoformat(d) for d in inbox.custom_holidays or [])
        return cls(ZoneInfo(inbox.time_zone or "UTC"), weekly, inbox.holiday_country, custom)

    def is_holiday(self, day: date) -> bool:
        return day in self.custom or (bool(self.country) and day in _public_holidays(self.country, day.year))

    def periods_starting(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open periods that begin on ``day`` (local), as aware datetimes in the inbox's zone."""
        if self.is_holiday(day):
            return []
        found = []
        for start, end in self.weekly.get(day.weekday(), ()):
            opens = datetime.combine(day, start, tzinfo=self.zone)
            closes = datetime.combine(day + timedelta(days=1) if end <= start else day, end, tzinfo=self.zone)
            found.append((opens, closes))
        return found

    def open_spans(self, start: datetime, *, until: datetime | None = None) -> Iterator[tuple[datetime, datetime]]:
        """The open spans from ``start`` on, in order, overlapping ones merged, clipped to
        [start, until], in UTC: durations are real elapsed time, even across a change of summer time
        (Python subtracts two times of one zone by their wall clocks)."""
        first_day = start.astimezone(self.zone).date() - timedelta(days=1)
        last_day = (until.astimezone(self.zone).date() if until else first_day + timedelta(days=LOOKAHEAD_DAYS)) + (
            timedelta(days=1)
        )
        pending: tuple[datetime, datetime] | None = None
        day = first_day
        while day <= last_day:
            for opens, closes in sorted(self.periods_starting(day)):
                opens, closes = max(opens.astimezone(UTC), start), closes.astimezone(UTC)
                if until is not None:
                    closes = min(closes, until)
                if closes <= opens:
                    continue
                if pending and opens <= pending[1]:
                    pending = (pending[0], max(pending[1], closes))
                    continue
                if pending:
                    yield pending
                pending = (opens, closes)
            day += timedelta(days=1)
        if pending:
            yield pending

    def seconds_open(self, start: datetime, end: datetime) -> float:
        """How much of [start, end] the team is in."""
        if end <= start:
            return 0.0
        return sum((closes - opens).total_seconds() for opens, closes in self.open_spans(start, until=end))

    def after_open_seconds(self, start: datetime, seconds: float) -> datetime | None:
        """The moment ``seconds`` of open time have passed from ``start`` (None: not within a year)."""
        if seconds <= 0:
            return start
        left = seconds
        for opens, closes in self.open_spans(start):
            span = (closes - opens).total_seconds()
            if left <= span:
                return opens + timedelta(seconds=left)
            left -= span
        return None

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        for day in (local.date() - timedelta(days=1), local.date()):
            if any(opens <= local < closes for opens, closes in self.periods_starting(day)):
                return True
        return False

    def closed_since(self, at: datetime) -> datetime | None:
        """When the closed spell ``at`` falls in began (the last period's end), or None while open.
        It names the spell: one away reply per conversation per spell."""
        if self.is_open(at):
            return None
        local = at.astimezone(self.zone)
        ends = [
            closes
            for offset in range(LOOKBACK_DAYS + 1)
            for _, closes in self.periods_starting(local.date() - timedelta(days=offset))
            if closes <= local
        ]
        return (
            max(ends)
            if ends
            else local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=LOOKBACK_DAYS)
        )

    def next_open(self, at: datetime) -> datetime | None:
        """When the team is next in, from ``at`` (None if no period in the coming weeks)."""
        local = at.astimezone(self.zone)
        starts = [
            opens
            for offset in range(LOOKBACK_DAYS + 1)
            for opens, _ in self.periods_starting(local.date() + timedelta(days=offset))
            if opens > local
        ]
        return min(starts) if starts else None


@cache
def _public_holidays(country: str, year: int):
    return holidays.country_holidays(country, years=year)


def parse_weekly_hours(text: str) -> dict[str, list[list[str]]]:
    """Read the settings form's hours, a line a day: "Mon 09:00-12:00 13:00-17:30", "Fri 22:00-02:00".
    ValueError names the line that cannot be read."""
    days = {name: n for n, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
    weekly: dict[str, list[list[str]]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.replace(",", " ").split()
        if not words:
            continue
        day = days.get(words[0][:3].lower())
        if day is None:
            raise ValueError(f"Line {number}: start with a day, like “Mon 09:00-17:00”.")
        for span in words[1:]:
            start, sep, end = span.partition("-")
            try:
                period = [
                    time.fromisoformat(start.strip()).strftime("%H:%M"),
                    time.fromisoformat(end.strip()).strftime("%H:%M"),
                ]
            except ValueError:
                raise ValueError(f"Line {number}: “{span}” is not a period like 09:00-17:00.") from None
            if not sep or period[0] == period[1]:
                raise ValueError(f"Line {number}: “{span}” is not a period like 09:00-17:00.")
            weekly.setdefault(str(day), []).append(period)
    return weekly


def weekly_hours_text(weekly: dict) -> str:
    """The form's text for stored hours (parse_weekly_hours reads it back)."""
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    return "\n".join(
        f"{names[int(day)]} " + " ".join(f"{start}-{end}" for start, end in periods)
        for day, periods in sorted(weekly.items(), key=lambda item: int(item[0]))
    )
