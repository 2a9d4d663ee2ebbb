"""Raw mail from any door (a file, standard input, the raw-MIME webhook, IMAP, a provider's inbound
webhook) is stored the same way: keyed by its Message-ID, so the same mail through two doors, or
twice through one, is one event and one message."""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

import requests
from django.db import transaction
from django.urls import reverse

from conversations.intake import inbound_event_queue, inbound_event_record
from conversations.models import InboundEvent
from inbox.connectors.contract import ParseError, unparsed_event_id
from inbox.connectors.email.connector import EmailConnector
from inbox.models import Inbox

logger = logging.getLogger(__name__)

MAIL_CONTENT_TYPE = "message/rfc822"


def mail_event_id(inbox: Inbox, raw: bytes) -> str:
    try:
        return EmailConnector().event_id(inbox=inbox, raw=raw, content_type=MAIL_CONTENT_TYPE)
    except ParseError as exc:
        # Not understood, but kept, keyed by its content, for replay after a fix.
        logger.warning("mail for inbox %s without a usable id: %s", inbox.pk, exc)
        return unparsed_event_id(raw)


def mail_record(inbox: Inbox, raw: bytes) -> InboundEvent | None:
    """Store a raw mail and queue its processing after commit; None if we already have it."""
    event = inbound_event_record(
        inbox=inbox, external_id=mail_event_id(inbox, raw), raw=raw, content_type=MAIL_CONTENT_TYPE
    )
    if event is not None:
        # If the broker is down this fails after the mail is safely stored; the sweep picks it up.
        transaction.on_commit(lambda: inbound_event_queue(event.pk))
    return event


# (connect, read): a server that is there answers at once; one busy with a big mail gets longer.
DELIVERY_TIMEOUT_SECONDS = (3, 30)


def mail_deliver_to_server(inbox: Inbox, raw: bytes, base_url: str) -> str:
    """Hand a raw mail to the running server's raw-MIME webhook, as a mail server would; "" once it
    took it, else why not (the caller then stores the mail itself: nothing is lost). On the embedded
    default only the server's own process reaches agents' open workspaces, so mail taken from the
    command line goes through it to appear live."""
    if not _on_this_machine(base_url):
        # The embedded default's server runs here; a public address is some other deployment.
        return f"{base_url} is not a server on this machine"
    url = f"{base_url}{reverse('inbound_webhook', args=[inbox.kind, inbox.public_token])}"
    try:
        response = requests.post(
            url,
            data=raw,
            headers={"Content-Type": MAIL_CONTENT_TYPE},
            auth=("inbox", inbox.secret),
            timeout=DELIVERY_TIMEOUT_SECONDS,
        )
    except requests.ConnectionError:
        return f"no server answers at {base_url}"
    except requests.Timeout:
        # It may have taken the mail all the same: storing it here too is harmless, since a mail's
        # event id is its content's, and the second copy is recognised as the first.
        return f"the server at {base_url} did not answer in time"
    except requests.RequestException as exc:
        return f"the server at {base_url} could not be used ({type(exc).__name__})"
    return "" if response.status_code == 200 else f"the server at {base_url} answered {response.status_code}"


def _on_this_machine(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
