"""Check connection for email: an IMAP login and folder select, and an SMTP login, with the inbox's own credentials."""

from __future__ import annotations

import smtplib

from imapclient.exceptions import IMAPClientError, LoginError

from inbox.connectors.contract import CHECK_TIMEOUT_SECONDS, CheckResult, plain_error, unreachable
from inbox.connectors.email.connector import smtp_backend
from inbox.connectors.email.imap import imap_config, imap_connect
from inbox.models import Inbox


def connection_check(inbox: Inbox) -> list[CheckResult]:
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
        with imap_connect({**config, "timeout": CHECK_TIMEOUT_SECONDS}) as client:
            status = client.select_folder(folder, readonly=True)
    except LoginError:
        return CheckResult("IMAP", False, "The server refused the username or password.", credentials_refused=True)
    except IMAPClientError as exc:
        return CheckResult(
            "IMAP",
            False,
            f"The server refused to open the folder {folder!r}: check its name.",
            technical=plain_error(exc),
        )
    except OSError as exc:  # refused, unreachable, timed out, TLS failed
        where = f"the mail server {config['host']}:{config.get('port') or 'default'}"
        return CheckResult("IMAP", False, unreachable(where, exc), technical=plain_error(exc))
    return CheckResult("IMAP", True, f"Signed in; {folder} holds {status.get(b'EXISTS', 0)} message(s).")


def _smtp(smtp: dict) -> CheckResult:
    backend = smtp_backend(smtp, timeout=CHECK_TIMEOUT_SECONDS)
    try:
        backend.open()
    except smtplib.SMTPAuthenticationError:
        return CheckResult("SMTP", False, "The server refused the username or password.", credentials_refused=True)
    except smtplib.SMTPNotSupportedError as exc:
        return CheckResult(
            "SMTP",
            False,
            "The server does not offer what the security setting asks: check it.",
            technical=plain_error(exc),
        )
    except (smtplib.SMTPException, OSError) as exc:
        where = f"the mail server {backend.host}:{backend.port}"
        return CheckResult("SMTP", False, unreachable(where, exc), technical=plain_error(exc))
    finally:
        backend.close()
    return CheckResult("SMTP", True, f"Signed in to {backend.host}:{backend.port}.")
