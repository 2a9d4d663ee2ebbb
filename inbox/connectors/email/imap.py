"""Read an email inbox's IMAP folder: every mail exactly once, whatever the downtime in between.

The cursor is (UIDVALIDITY, last UID seen). Only UIDs above it are fetched, so no look-back window
loses mail after an outage. Each batch is stored before the cursor moves past it, so a crash in
between means fetching the batch again, and the Message-ID key makes that harmless. When the server
changes UIDVALIDITY (a rebuilt or restored mailbox), the old UIDs mean nothing: the folder is read
again from the start, and mail already stored is recognised by its Message-ID.
Mail stays on the server (fetched with BODY.PEEK, so not even marked read), unless the inbox asks
for it to be moved to a folder once stored.
"""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from conversations.intake import inbound_event_record_failed
from inbox.connectors.email.intake import MAIL_CONTENT_TYPE, mail_event_id, mail_record
from inbox.models import ImapCursor, Inbox

logger = logging.getLogger(__name__)

# A fetch brings at most this many mails, or this many bytes, into memory at once.
FETCH_BATCH = 50
FETCH_BATCH_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class PollResult:
    fetched: int
    stored: int
    uidvalidity_changed: bool


def imap_config(inbox: Inbox) -> dict | None:
    config = (inbox.credentials or {}).get("imap")
    return config if config and config.get("host") else None


def imap_connect(config: dict) -> IMAPClient:
    client = IMAPClient(
        config["host"], port=config.get("port") or None, ssl=config.get("ssl", True), timeout=config.get("timeout", 30)
    )
    client.login(config.get("username", ""), config.get("password", ""))
    return client


def imap_poll(inbox: Inbox) -> PollResult:
    """Fetch what arrived since the cursor; raise on connection and login errors (after saying so
    on the cursor, where admins see it)."""
    config = imap_config(inbox)
    if config is None:
        raise ValueError(f"inbox {inbox.pk} has no IMAP settings (credentials['imap'])")
    folder, move_to = config.get("folder") or "INBOX", config.get("move_to") or ""
    cursor, _ = ImapCursor.objects.get_or_create(inbox=inbox, defaults={"folder": folder})
    try:
        return _poll(inbox, cursor, folder, move_to, config)
    except Exception as exc:
        # A sentence for the admin, then the technical detail on a line of its own (shown on request).
        detail = f"{type(exc).__name__}: {exc}"
        ImapCursor.objects.filter(pk=cursor.pk).update(last_error=f"{imap_failure(exc, config)}\n{detail}"[:2000])
        raise


def imap_failure(exc: Exception, config: dict) -> str:
    """What went wrong reading the mailbox, and what to do, in a sentence."""
    where = f"{config.get('host')}:{config.get('port') or ('993' if config.get('ssl', True) else '143')}"
    if isinstance(exc, LoginError):
        return "The mail server refused the username or password: correct them in the inbox's settings."
    if isinstance(exc, socket.gaierror):
        return f"The mail server {config.get('host')} could not be found: check its name in the inbox's settings."
    if isinstance(exc, ConnectionRefusedError):
        return f"Nothing answers at {where}: check the mail server's name and port."
    if isinstance(exc, TimeoutError):  # socket.timeout too
        return f"The mail server at {where} did not answer in time; it is tried again later."
    if isinstance(exc, ssl.SSLError):
        return f"No secure connection could be made to {where}: check the port and the SSL setting."
    if isinstance(exc, IMAPClientError):
        return "The mail server refused a request: check the folder names in the inbox's settings."
    return "Reading the mailbox failed; it is tried again later."


def _poll(inbox: Inbox, cursor: ImapCursor, folder: str, move_to: str, config: dict) -> PollResult:
    with imap_connect(config) as client:
        status = client.select_folder(folder, readonly=not move_to)
        uidvalidity = int(status[b"UIDVALIDITY"])
        changed = cursor.folder != folder or cursor.uidvalidity != uidvalidity
        if changed and cursor.uidvalidity is not None:
            logger.warning("inbox %s: %s has a new UIDVALIDITY; reading it again from the start", inbox.pk, folder)
        last_uid = 0 if changed else cursor.last_uid
        # "N:*" always matches the newest mail, even below N: keep only what is really new.
        uids = sorted(uid for uid in client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)
        sizes, stored = _sizes(client, uids), 0
        for batch in _batches(uids, sizes):
            stored += _store_batch(inbox, client, batch, sizes)
            ImapCursor.objects.filter(pk=cursor.pk).update(folder=folder, uidvalidity=uidvalidity, last_uid=batch[-1])
            if move_to:
                _move(client, batch, move_to)
        ImapCursor.objects.filter(pk=cursor.pk).update(
            folder=folder, uidvalidity=uidvalidity, last_polled_at=timezone.now(), last_error=""
        )
        return PollResult(fetched=len(uids), stored=stored, uidvalidity_changed=changed)


def _sizes(client: IMAPClient, uids: list[int]) -> dict[int, int]:
    sizes = {}
    for start in range(0, len(uids), 500):
        fetched = client.fetch(uids[start : start + 500], ["RFC822.SIZE"])
        sizes.update({uid: data.get(b"RFC822.SIZE", 0) for uid, data in fetched.items()})
    return sizes


def _batches(uids: list[int], sizes: dict[int, int]):
    """The UIDs in fetch batches bounded by count and by the mails' sizes."""
    batch, batch_bytes = [], 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= FETCH_BATCH or batch_bytes + size > FETCH_BATCH_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(uid)
        batch_bytes += size
    if batch:
        yield batch


def _store_batch(inbox: Inbox, client: IMAPClient, batch: list[int], sizes: dict[int, int]) -> int:
    """Store each mail of the batch; one too big to take is kept as its headers, failed, saying why."""
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    whole = [uid for uid in batch if sizes.get(uid, 0) <= limit]
    stored = 0
    for data in (client.fetch(whole, ["BODY.PEEK[]"]) if whole else {}).values():
        if (raw := data.get(b"BODY[]")) is not None:  # None: expunged meanwhile
            stored += mail_record(inbox, bytes(raw)) is not None
    too_big = [uid for uid in batch if sizes.get(uid, 0) > limit]
    for uid, data in (client.fetch(too_big, ["BODY.PEEK[HEADER]"]) if too_big else {}).items():
        headers = bytes(data.get(b"BODY[HEADER]", b""))
        inbound_event_record_failed(
            inbox=inbox,
            external_id=mail_event_id(inbox, headers),
            raw=headers,
            content_type=MAIL_CONTENT_TYPE,
            error=f"mail of {sizes[uid]} bytes is over the {limit}-byte limit (WEBHOOK_MAX_BODY_BYTES); "
            f"only its headers were kept. It is still on the server, UID {uid}.",
        )
    return stored


def _move(client: IMAPClient, uids: list[int], folder: str) -> None:
    if not client.folder_exists(folder):
        client.create_folder(folder)
    if client.has_capability("MOVE"):
        client.move(uids, folder)
    else:
        client.copy(uids, folder)
        client.delete_messages(uids)
        client.uid_expunge(uids) if client.has_capability("UIDPLUS") else client.expunge()
