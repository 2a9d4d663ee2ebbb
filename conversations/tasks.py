"""Celery beat's periodic work on conversations. The tasks that send a reply and process an inbound
event sit beside their services (``delivery.message_deliver_task``, ``intake.inbound_event_process_task``):
the services queue them, so they may not live in a module that imports the services back."""

from datetime import timedelta

from celery import shared_task

from conversations.actions import conversations_wake_snoozed
from conversations.csat import surveys_ask_due
from conversations.delivery import messages_requeue_stale
from conversations.intake import inbound_events_retry_stale
from conversations.reports.days import report_days_refresh
from conversations.routing import conversations_reroute_offline
from conversations.sla import sla_breaches_settle


@shared_task
def sweep_stale_work() -> None:
    """Pick up what a lost task left behind: replies still queued, events never processed. Measured
    in seconds (it runs every STALE_SWEEP_SECONDS), so a fault costs a customer seconds, not minutes;
    work still under way is claimed by whoever gets it first, so a second go does nothing twice."""
    messages_requeue_stale(older_than=timedelta(seconds=60))
    inbound_events_retry_stale(older_than=timedelta(seconds=30))


@shared_task
def wake_snoozed() -> None:
    conversations_wake_snoozed()


@shared_task
def reroute_offline() -> None:
    conversations_reroute_offline()


@shared_task
def sla_breaches() -> None:
    """Clocks past their deadline: recorded as breached, their people told (once)."""
    sla_breaches_settle()


@shared_task
def csat_ask_due() -> None:
    """Satisfaction questions whose delay after resolving has passed."""
    surveys_ask_due()


@shared_task
def report_days() -> None:
    """The reports' days whose facts changed, worked out again (a report page also does it first)."""
    report_days_refresh()
