""" "Check connection": log in to what an inbox depends on, with its own credentials, and say plainly
what happened. Each check returns results; none raises, and none puts a secret in its text."""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
from dataclasses import dataclass

import requests
from django.db import transaction
from django.utils import timezone
from imapclient.exceptions import IMAPClientError, LoginError
from twilio.base.exceptions import TwilioException, TwilioRestException

from inbox.connectors.email import smtp_backend
from inbox.connectors.messenger import TOKEN_ERRORS, graph_url
from inbox.connectors.sms import twilio_client
from inbox.imap_polling import imap_config, imap_connect
from inbox.models import Inbox

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10  # an admin is waiting for the answer


@dataclass(frozen=True)
class CheckResult:
    name: str  # what was checked: "IMAP", "SMTP", "Twilio account", "Facebook page"
    ok: bool
    detail: str
    # The provider refused the credentials themselves (not a network blip): reconnect.
    credentials_refused: bool = False


def connection_check(inbox: Inbox) -> list[CheckResult]:
    """Run the inbox's checks and record the outcome on it, where the inbox list shows it."""
    try:
        results = CHECKS[inbox.kind](inbox)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the admin gets an answer, not a 500
        # Only the type: a library's message may quote what it was given, a password included.
        logger.warning("connection check of inbox %s failed unexpectedly: %s", inbox.pk, type(exc).__name__)
        results = [CheckResult("Connection", False, f"the check itself failed ({type(exc).__name__})")]
    failed = [r for r in results if not r.ok]
    refused = [r for r in failed if r.credentials_refused]
    with transaction.atomic():
        Inbox.objects.filter(pk=inbox.pk).update(
            last_error="; ".join(f"{r.name}: {r.detail}" for r in failed)[:500],
            last_error_at=timezone.now() if failed else None,
            # Fixed credentials clear the flag a refused send set; refused ones set it.
            needs_reconnection="; ".join(f"{r.name}: {r.detail}" for r in refused)[:500],
        )
    return results


def _email(inbox: Inbox) -> list[CheckResult]:
    results = []
    config = imap_config(inbox)
    if config:
        results.append(_imap(config))
    smtp = (inbox.credentials or {}).get("smtp") or {}
    if smtp.get("host"):
        results.append(_smtp(smtp))
    if not results:
        results.append(
            CheckResult(
                "Mail",
                True,
                "No IMAP or SMTP server is set: mail arrives by the webhook or pipe, and replies leave through "
                "the site's own mail settings.",
            )
        )
    return results


def _imap(config: dict) -> CheckResult:
    folder = config.get("folder") or "INBOX"
    try:
        with imap_connect({**config, "timeout": TIMEOUT_SECONDS}) as client:
            status = client.select_folder(folder, readonly=True)
    except LoginError:
        return CheckResult("IMAP", False, "the server refused the username or password", credentials_refused=True)
    except IMAPClientError as exc:
        return CheckResult("IMAP", False, f"the server answered: {_plain(exc)} (is the folder {folder!r} right?)")
    except OSError as exc:  # refused, unreachable, timed out, TLS failed
        return CheckResult("IMAP", False, f"cannot reach {config['host']}:{config.get('port') or 'default'}: {exc}")
    return CheckResult("IMAP", True, f"signed in; {folder} holds {status.get(b'EXISTS', 0)} message(s)")


def _smtp(smtp: dict) -> CheckResult:
    backend = smtp_backend(smtp, timeout=TIMEOUT_SECONDS)
    try:
        backend.open()
    except smtplib.SMTPAuthenticationError:
        return CheckResult("SMTP", False, "the server refused the username or password", credentials_refused=True)
    except smtplib.SMTPNotSupportedError as exc:
        return CheckResult("SMTP", False, f"the server does not offer this: {_plain(exc)} (check the security)")
    except (smtplib.SMTPException, OSError) as exc:
        return CheckResult("SMTP", False, f"cannot use {backend.host}:{backend.port}: {_plain(exc)}")
    finally:
        backend.close()
    return CheckResult("SMTP", True, f"signed in to {backend.host}:{backend.port}")


def _sms(inbox: Inbox) -> list[CheckResult]:
    credentials = inbox.credentials or {}
    if not credentials.get("account_sid") or not credentials.get("auth_token"):
        return [CheckResult("Twilio account", False, "the Account SID and Auth Token are not set")]
    client = twilio_client(inbox, timeout=TIMEOUT_SECONDS)
    try:
        account = client.api.v2010.accounts(credentials["account_sid"]).fetch()
    except TwilioRestException as exc:
        if exc.status in (401, 403, 404):
            return [
                CheckResult(
                    "Twilio account",
                    False,
                    f"Twilio refused the Account SID or Auth Token (error {exc.code})",
                    credentials_refused=True,
                )
            ]
        return [CheckResult("Twilio account", False, f"Twilio answered {exc.status}: {exc.msg}")]
    except (TwilioException, requests.RequestException, OSError) as exc:
        return [CheckResult("Twilio account", False, f"cannot reach Twilio: {_plain(exc)}")]
    if account.status != "active":
        return [CheckResult("Twilio account", False, f"the account {account.friendly_name!r} is {account.status}")]
    return [CheckResult("Twilio account", True, f"signed in to {account.friendly_name!r} ({account.status})")]


def _messenger(inbox: Inbox) -> list[CheckResult]:
    credentials, page_id = inbox.credentials or {}, str(inbox.settings.get("page_id", ""))
    token, app_secret = credentials.get("page_access_token", ""), credentials.get("app_secret", "")
    if not token:
        return [CheckResult("Facebook page", False, "the page access token is not set")]
    params = {"fields": "id,name", "access_token": token}
    if app_secret:
        # Meta checks this proof against the app's secret, so a wrong secret shows up here too.
        params["appsecret_proof"] = hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
    try:
        response = requests.get(graph_url("me"), params=params, timeout=TIMEOUT_SECONDS)
        data = response.json()
    except requests.RequestException as exc:
        return [CheckResult("Facebook page", False, f"cannot reach Meta: {type(exc).__name__}")]
    except ValueError:
        return [CheckResult("Facebook page", False, f"Meta answered {response.status_code} with no JSON")]
    if not response.ok:
        error = data.get("error") or {}
        code = error.get("code")
        return [
            CheckResult(
                "Facebook page",
                False,
                f"Meta refused it (error {code}: {error.get('message', 'no message')})",
                credentials_refused=code in TOKEN_ERRORS or code == 100,
            )
        ]
    if page_id and str(data.get("id")) != page_id:
        return [
            CheckResult(
                "Facebook page",
                False,
                f"the token belongs to page {data.get('id')} ({data.get('name', '?')}), not page {page_id}",
                credentials_refused=True,
            )
        ]
    return [CheckResult("Facebook page", True, f"the token works for {data.get('name', '?')} ({data.get('id')})")]


def _webchat(inbox: Inbox) -> list[CheckResult]:
    return [CheckResult("Widget", True, "the widget connects to us: nothing outside to sign in to")]


def _fake(inbox: Inbox) -> list[CheckResult]:
    return [CheckResult("Fake", True, "a test inbox: nothing to check")]


def _plain(exc: Exception) -> str:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text)[:200]


CHECKS = {
    Inbox.Kind.EMAIL: _email,
    Inbox.Kind.SMS: _sms,
    Inbox.Kind.MESSENGER: _messenger,
    Inbox.Kind.WEBCHAT: _webchat,
    Inbox.Kind.FAKE: _fake,
}
