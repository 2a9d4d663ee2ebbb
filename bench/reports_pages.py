"""The pages the reports bench measures (`variants`): the 12-month Reports page, the same in business
hours, filtered by a channel and by a team, and, where the project keeps a daily rollup, with each
inbox's latest day marked dirty before each request; and one page asked of the test client (`get`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import workspace


def get(client, path: str):
    """The page, which must answer 200 (bench/workspace.py's `get`, without extra headers)."""
    return workspace.get(client, path, {})


def nothing() -> None:
    """A variant's preparation when it needs none."""


@dataclass
class Variant:
    key: str
    label: str
    path: str
    prepare: object = nothing  # run before each request, untimed


def variants(meta: dict) -> list[Variant]:
    team = meta["team"]
    base = "/reports/?range=12m&tz=UTC"
    found = [
        Variant("calendar", "12 months, all channels", base),
        Variant("business", "12 months, business hours", f"{base}&clock=business"),
        Variant("email", "12 months, email only", f"{base}&channel=email"),
        Variant("team", f"12 months, one team (#{team})", f"{base}&team={team}"),
    ]
    prepare = dirty_latest_days()
    if prepare is not None:
        label = "12 months, all channels, each inbox's latest day changed since the last sweep"
        found.append(Variant("dirty", label, base, prepare))
    return found


def dirty_latest_days():
    """Live traffic between two of beat's sweeps, where the project keeps a daily rollup that the page
    brings up to date first: each inbox's latest day marked dirty before each request (untimed)."""
    from django.apps import apps
    from django.db.models import Max

    try:
        day_model = apps.get_model("conversations", "ReportDay")
        dirty_model = apps.get_model("conversations", "ReportDayDirty")
    except LookupError:
        return None
    latest = day_model.objects.values("inbox_id").annotate(day=Max("day")).values_list("inbox_id", "day")
    rows = [(inbox_id, day) for inbox_id, day in latest]

    def prepare() -> None:
        dirty_model.objects.bulk_create(
            [dirty_model(inbox_id=inbox_id, day=day) for inbox_id, day in rows], ignore_conflicts=True
        )

    return prepare if rows else None
