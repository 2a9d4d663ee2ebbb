"""A report's figures, from wherever they are quickest to add up exactly: reports by inbox and channel
from the daily rollup (a row an inbox a day), those by team, agent or label (which the rollup does not
split) from the facts themselves. Both follow docs/metrics.md to the letter: the rollup is made of
the facts by the very query a filtered report runs."""

from __future__ import annotations

from conversations.reports.days import days_report
from conversations.reports.figures import Report, ReportFilter, facts_report


def report_figures(rf: ReportFilter) -> Report:
    if rf.team_id or rf.agent_id or rf.label_id:
        return facts_report(rf)
    return days_report(rf)
