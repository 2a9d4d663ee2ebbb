"""Every figure of docs/metrics.md, on the week of tests/conversations/report_week.py, against the values
worked out by hand there (durations in seconds)."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from conversations.reports.figures import COUNTS, ReportFilter
from conversations.reports.report import report_figures
from tests.conversations.report_week import MONDAY, play

UTC_ZONE = ZoneInfo("UTC")


@pytest.fixture
def week(db, client, django_capture_on_commit_callbacks):
    return play(client, django_capture_on_commit_callbacks)


def figures(**filters):
    defaults = {"start": MONDAY, "end": MONDAY + timedelta(days=7), "time_zone": UTC_ZONE}
    return report_figures(ReportFilter(**{**defaults, **filters}))


def durations(report_figures_, name):
    d = report_figures_.durations[name]
    return d.count, d.median, d.p90


def test_counts(week):
    total = figures().total
    assert (total.opened, total.new_customers) == (5, 4)  # F (a machine's) is in no report; E is Ada's second
    assert (total.resolved, total.first_resolved, total.reopened) == (5, 5, 1)
    assert total.reopen_rate == 20.0
    assert (total.messages_in, total.messages_out) == (8, 6)  # notes, survey answers and automatic mail aside


def test_response_times_in_calendar_and_business_hours(week):
    total = figures().total
    # First responses: A 20 min, B 17 h, C 10 min, E 30 min. Nearest rank: the 2nd and the 4th of 4.
    assert durations(total, "first_response") == (4, 1200, 61200)
    # Next responses: A 75 min (from 10:30), B 30 min.
    assert durations(total, "next_response") == (2, 1800, 4500)
    business = figures(business=True).total
    # B's 17 hours hold one business hour (16:30–17:00 and 09:00–09:30); the chat keeps no hours.
    assert durations(business, "first_response") == (4, 1200, 3600)
    assert durations(business, "next_response") == (2, 1800, 4500)


def test_resolution_times(week):
    total = figures().total
    # First resolutions: A 2 h, B 17.5 h, C 24 h, D 3 h, E 1 h → the 3rd and the 5th of 5.
    assert durations(total, "first_resolution") == (5, 10800, 86400)
    # Full: B's last resolution, after it reopened, at 19.5 h.
    assert sorted(total.durations["full_resolution"].values.tolist()) == [3600, 7200, 10800, 70200, 86400]
    business = figures(business=True).total
    # B: 1.5 h in hours to Tuesday 10:00, 3.5 h to 12:00; C: Wednesday's 8 hours; E: 1 hour.
    assert sorted(business.durations["first_resolution"].values.tolist()) == [3600, 5400, 7200, 10800, 28800]
    assert sorted(business.durations["full_resolution"].values.tolist()) == [3600, 7200, 10800, 12600, 28800]


def test_service_level_attainment(week):
    total = figures().total
    # First response: A, C, E met; B answered late; D never answered, breached, then resolved.
    assert total.sla["first_response"] == [3, 2] and total.sla_attainment("first_response") == 60.0
    assert total.sla["next_response"] == [1, 1]  # B in time, A late
    # Resolution within a day: C's pending hours paused its clock, so all five met it.
    assert total.sla["resolution"] == [5, 0] and total.sla_attainment("resolution") == 100.0


def test_satisfaction(week):
    total = figures().total
    assert total.csat_asked == 5
    assert total.csat_ratings == [0, 1, 0, 1, 1]  # C 2, E 4, A 5
    assert round(total.csat_satisfied, 1) == 66.7 and total.csat_response_rate == 60.0


def test_channels_side_by_side(week):
    chat, mail = figures().channels
    assert (chat.channel, chat.opened, chat.messages_in, chat.messages_out) == ("webchat", 2, 4, 2)
    assert (mail.channel, mail.opened, mail.messages_in, mail.messages_out) == ("email", 3, 4, 4)
    assert durations(chat, "first_response") == (1, 1200, 1200)
    assert durations(mail, "first_response") == (3, 1800, 61200)
    assert chat.sla["first_response"] == [1, 1] and mail.sla["first_response"] == [2, 1]


def test_where_customers_came_from_and_where_they_were_resolved(week):
    attribution = figures().attribution
    # Ada came by chat first: her email conversation E counts for chat, resolved on email.
    assert attribution == {("webchat", "webchat"): 2, ("webchat", "email"): 1, ("email", "email"): 2}


def test_volume_by_day_and_busiest_hours_in_the_reports_zone(week):
    report = figures()
    assert [(d.weekday(), i, o) for d, i, o in report.volume[:4]] == [(0, 4, 2), (1, 1, 2), (2, 2, 2), (3, 1, 0)]
    assert len(report.volume) == 7
    assert report.heatmap[0][10] == 2 and report.heatmap[0][16] == 1 and report.heatmap[3][10] == 1


def test_days_and_hours_are_the_teams(week, settings):
    from conversations.reports.days import report_days_rebuild

    # In Kuala Lumpur (UTC+8), Monday 16:30 UTC is Tuesday 00:30, and Monday's messages are evening ones.
    settings.REPORTS_TIME_ZONE = "Asia/Kuala_Lumpur"
    report_days_rebuild()
    kl = figures(start=MONDAY - timedelta(hours=8), end=MONDAY + timedelta(days=7) - timedelta(hours=8))
    assert kl.heatmap[1][0] == 1 and kl.heatmap[0][18] == 2
    assert [(d.isoformat(), i, o) for d, i, o in kl.volume[:2]] == [("2026-11-02", 3, 2), ("2026-11-03", 2, 2)]


def test_the_daily_rollup_and_the_facts_give_the_same_figures(week):
    from conversations.reports.figures import facts_report

    for filters in ({}, {"business": True}, {"inbox_ids": (week.mail.pk,)}, {"channel": "webchat"}):
        by_days, by_facts = (
            figures(**filters),
            facts_report(ReportFilter(MONDAY, MONDAY + timedelta(days=7), UTC_ZONE, **filters)),
        )
        assert same(by_days, by_facts), filters


def same(a, b) -> bool:
    """Two reports with every figure equal (durations as sets of values: their order is storage's)."""

    def flat(report):
        rows = []
        for f in [report.total, *report.channels]:
            counts = [f.channel, f.csat_asked, *(getattr(f, n) for n in COUNTS)]
            durations = {n: sorted(d.values.tolist()) for n, d in f.durations.items()}
            rows.append((counts, durations, f.sla, f.csat_ratings))
        return rows, report.volume, report.heatmap, report.attribution

    return flat(a) == flat(b)


def test_filters(week):
    sams = figures(agent_id=week.sam.pk).total
    assert durations(sams, "first_response") == (3, 1200, 1800)  # A, C, E: he wrote them
    assert sams.opened == 3 and sams.csat_ratings == [0, 1, 0, 1, 1]
    kims = figures(agent_id=week.kim.pk).total
    assert durations(kims, "next_response") == (1, 1800, 1800) and kims.opened == 1
    mail_only = figures(inbox_ids=(week.mail.pk,)).total
    assert mail_only.opened == 3 and figures(channel="webchat").total.opened == 2
    assert figures(inbox_ids=()).total.opened == 0  # an agent in no inbox sees nothing


def test_the_range_is_respected(week):
    tuesday = figures(start=MONDAY + timedelta(days=1), end=MONDAY + timedelta(days=2)).total
    assert tuesday.opened == 0 and (tuesday.messages_in, tuesday.messages_out) == (1, 2)
    assert durations(tuesday, "first_response") == (1, 61200, 61200)  # B's, answered on Tuesday
    assert tuesday.resolved == 1 and tuesday.first_resolved == 1  # B, resolved (twice) on Tuesday


def test_a_rebuild_gives_the_same_figures(week):
    before = figures()
    call_command("reports_rebuild", verbosity=0)
    after = figures()
    assert after.total.durations["first_response"].values.tolist() == sorted(
        before.total.durations["first_response"].values.tolist()
    ) or sorted(after.total.durations["first_response"].values.tolist()) == sorted(
        before.total.durations["first_response"].values.tolist()
    )
    assert (after.total.opened, after.total.sla, after.attribution) == (
        before.total.opened,
        before.total.sla,
        before.attribution,
    )
