"""Check connection for SMS: Twilio's account lookup, which also reports a suspended account."""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from inbox.connectors.contract import CHECK_TIMEOUT_SECONDS, CheckResult, plain_error, unreachable
from inbox.connectors.sms.connector import twilio_client
from inbox.models import Inbox


def connection_check(inbox: Inbox) -> list[CheckResult]:
    credentials = inbox.credentials or {}
    if not credentials.get("account_sid") or not credentials.get("auth_token"):
        return [CheckResult("Twilio account", False, "The Account SID and Auth Token are not set: add them above.")]
    client = twilio_client(inbox, timeout=CHECK_TIMEOUT_SECONDS)
    try:
        account = client.api.v2010.accounts(credentials["account_sid"]).fetch()
    except TwilioRestException as exc:
        if exc.status in (401, 403, 404):
            return [
                CheckResult(
                    "Twilio account",
                    False,
                    "Twilio refused the Account SID or Auth Token: copy them again from the Twilio console.",
                    credentials_refused=True,
                    technical=f"Twilio error {exc.code}: {exc.msg}",
                )
            ]
        return [
            CheckResult(
                "Twilio account",
                False,
                "Twilio could not look up the account; try again in a minute.",
                technical=f"HTTP {exc.status}, Twilio error {exc.code}: {exc.msg}",
            )
        ]
    except (TwilioException, requests.RequestException, OSError) as exc:
        return [CheckResult("Twilio account", False, unreachable("Twilio", exc), technical=plain_error(exc))]
    if account.status != "active":
        return [
            CheckResult(
                "Twilio account",
                False,
                f"The Twilio account {account.friendly_name!r} is {account.status}: it must be active to send.",
            )
        ]
    return [CheckResult("Twilio account", True, f"Signed in to {account.friendly_name!r} ({account.status}).")]
