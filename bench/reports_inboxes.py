"""The directory of the reports bench's seed: the workspace bench's agents, inboxes, teams and labels
(bench/workspace.py's `seed_directory`), then this bench's settings on the inboxes (business hours,
away replies, surveys, service-level policies) and an admin to sign in as; through the ORM.
"""

from __future__ import annotations

import random

from bench import workspace
from bench.reports_history import DAY, HOUR, MINUTE, Box

WEEKDAYS_ = ("Mon", "Tue", "Wed", "Thu", "Fri")


def _hours(days, period: str) -> str:
    return "\n".join(f"{day} {period}" for day in days)


# In the order of workspace.seed_directory's inboxes (its kinds are checked against these).
# hours: (time zone, weekly hours, holiday country) or None: always open.
# policy: (first response, next response, resolution, counted in business hours) or None: no clocks.
INBOX_SETUP = [
    {
        "kind": "webchat",
        "hours": ("Europe/London", _hours((*WEEKDAYS_, "Sat"), "08:00-20:00"), "GB"),
        "csat": (0, 0.35),
        "policy": (5 * MINUTE, 5 * MINUTE, 8 * HOUR, False),
    },
    {
        "kind": "email",
        "hours": ("Europe/Berlin", _hours(WEEKDAYS_, "08:00-18:00"), "DE"),
        "csat": (60, 0.2),
        "policy": (8 * HOUR, 8 * HOUR, 3 * DAY, True),
        "away": True,
    },
    {"kind": "sms", "hours": None, "csat": None, "policy": (HOUR, 2 * HOUR, DAY, False)},
    {"kind": "messenger", "hours": None, "csat": None, "policy": None},
    {
        "kind": "email",
        "hours": ("America/New_York", _hours(WEEKDAYS_, "09:00-17:00"), "US"),
        "csat": (60, 0.2),
        "policy": (8 * HOUR, 8 * HOUR, 3 * DAY, True),
        "away": True,
    },
    {
        "kind": "webchat",
        "hours": ("Europe/Berlin", _hours(WEEKDAYS_, "09:00-18:00"), "DE"),
        "csat": (0, 0.35),
        "policy": (5 * MINUTE, 5 * MINUTE, 8 * HOUR, False),
    },
    {
        "kind": "email",
        "hours": ("Europe/Berlin", _hours(WEEKDAYS_, "08:00-18:00"), "DE"),
        "csat": None,
        "policy": (8 * HOUR, 8 * HOUR, 3 * DAY, True),
    },
    {"kind": "sms", "hours": ("Europe/London", _hours(WEEKDAYS_, "09:00-17:30"), "GB"), "csat": None, "policy": None},
    {"kind": "messenger", "hours": None, "csat": (0, 0.25), "policy": None},
    {"kind": "email", "hours": None, "csat": None, "policy": (8 * HOUR, 8 * HOUR, 3 * DAY, True)},
]
AWAY_TEXT = "Thanks for your message! Our team is away right now and will answer when we are back."
CSAT_TEXT = "How would you rate our support? Reply with a number from 1 (bad) to 5 (great)."


def seed_directory(rng: random.Random) -> dict:
    """The workspace bench's agents, inboxes, teams and labels, then this bench's settings on them."""
    from django.contrib.auth import get_user_model

    from conversations.business_hours import Schedule, parse_weekly_hours
    from conversations.models import SlaPolicy
    from inbox.models import Inbox

    directory = workspace.seed_directory(rng)
    boxes = []
    for setup, row in zip(INBOX_SETUP, directory["inboxes"], strict=True):
        if setup["kind"] != row["kind"]:
            raise RuntimeError(f"workspace.seed_directory's inboxes changed: {row['kind']} where {setup['kind']}")
        inbox = Inbox.objects.get(pk=row["id"])
        if setup["hours"]:
            zone, weekly, country = setup["hours"]
            inbox.hours_enabled, inbox.time_zone = True, zone
            inbox.weekly_hours, inbox.holiday_country = parse_weekly_hours(weekly), country
        if setup.get("away"):
            inbox.away_message = AWAY_TEXT
        if setup["csat"]:
            inbox.csat_enabled, inbox.csat_delay_minutes, inbox.csat_question = True, setup["csat"][0], CSAT_TEXT
        inbox.save()
        policy_id = None
        if setup["policy"]:
            first, following, resolution, business = setup["policy"]
            policy_id = SlaPolicy.objects.create(
                name=f"{inbox.name} targets",
                inbox=inbox,
                first_response_seconds=first,
                next_response_seconds=following,
                resolution_seconds=resolution,
                business_hours=business,
            ).pk
        boxes.append(
            Box(
                row["id"],
                row["kind"],
                row["members"],
                Schedule.of(inbox),
                policy_id,
                setup["policy"],
                setup["csat"],
                bool(setup.get("away")),
            )
        )
    admin = get_user_model().objects.create_user(
        username="reports-admin",
        first_name="Robin",
        last_name="Admin",
        email="admin@support.bench.example",
        password=None,
        is_staff=True,
        is_superuser=True,
    )
    return {**directory, "boxes": boxes, "admin": admin}
