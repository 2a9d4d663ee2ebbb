""" "Check connection": log in to what an inbox depends on, with its own credentials, and say plainly
what happened. Each check returns results; none raises, and none puts a secret in its text."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from inbox.connectors.contract import CheckResult, with_detail
from inbox.connectors.email import checks as email_checks
from inbox.connectors.email.tasks import imap_backoff_reset
from inbox.connectors.messenger import checks as messenger_checks
from inbox.connectors.sms import checks as sms_checks
from inbox.models import Inbox

logger = logging.getLogger(__name__)


def connection_check(inbox: Inbox) -> list[CheckResult]:
    """Run the inbox's checks and record the outcome on it, where the inbox list shows it."""
    try:
        results = CHECKS[inbox.kind](inbox)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the admin gets an answer, not a 500
        # Only the type: a library's message may quote what it was given, a password included.
        logger.warning("connection check of inbox %s failed unexpectedly: %s", inbox.pk, type(exc).__name__)
        results = [
            CheckResult("Connection", False, "The check itself failed; try again.", technical=type(exc).__name__)
        ]
    failed = [r for r in results if not r.ok]
    refused = [r for r in failed if r.credentials_refused]
    with transaction.atomic():
        Inbox.objects.filter(pk=inbox.pk).update(
            last_error=with_detail(
                " ".join(f"{r.name}: {r.detail}" for r in failed),
                " · ".join(r.technical for r in failed if r.technical),
            )[:500],
            last_error_at=timezone.now() if failed else None,
            # Fixed credentials clear the flag a refused send set; refused ones set it.
            needs_reconnection="; ".join(f"{r.name}: {r.detail}" for r in refused)[:500],
        )
    if inbox.kind == Inbox.Kind.EMAIL and any(r.name == "IMAP" and r.ok for r in results):
        imap_backoff_reset(inbox.pk)
    return results


def _webchat(inbox: Inbox) -> list[CheckResult]:
    return [CheckResult("Widget", True, "The widget connects to us: nothing outside to sign in to.")]


def _fake(inbox: Inbox) -> list[CheckResult]:
    return [CheckResult("Fake", True, "A test inbox: nothing to check.")]


CHECKS = {
    Inbox.Kind.EMAIL: email_checks.connection_check,
    Inbox.Kind.SMS: sms_checks.connection_check,
    Inbox.Kind.MESSENGER: messenger_checks.connection_check,
    Inbox.Kind.WEBCHAT: _webchat,
    Inbox.Kind.FAKE: _fake,
}
