"""Rebuild the reports' pre-aggregates from history (after an upgrade, a restore, or a change of an
inbox's business hours that should count back in time)."""

import time

from django.core.management.base import BaseCommand

from conversations.reports.days import report_days_rebuild
from conversations.reports.rebuild import facts_rebuild


class Command(BaseCommand):
    help = "Rebuild the reports' figures from conversations' history (messages, status changes, clocks, surveys)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size: int, **options):
        started = time.monotonic()
        done = facts_rebuild(batch_size=batch_size)
        days = report_days_rebuild()
        if options["verbosity"]:
            self.stdout.write(
                f"Rebuilt the figures of {done} conversations and {days} days of inboxes "
                f"in {time.monotonic() - started:.1f} s."
            )
