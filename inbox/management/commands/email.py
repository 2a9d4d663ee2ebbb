import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from conversations.intake import inbound_event_process, inbound_event_receive
from conversations.models import InboundEvent
from inbox.connectors.email.imap import imap_config, imap_poll
from inbox.connectors.email.intake import MAIL_CONTENT_TYPE, mail_deliver_to_server, mail_event_id
from inbox.connectors.email.tasks import poll_lock
from inbox.models import Inbox


class Command(BaseCommand):
    help = (
        "Email: `ingest` raw mail files (or standard input, so an MTA can pipe into it) into an email "
        "inbox; `poll` the IMAP mailboxes (once, or --every N seconds where no Celery beat runs); "
        "`replay` the stored mail that failed, after a fix."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ingest = sub.add_parser("ingest", help="Ingest raw RFC 5322 mail: files, or - for standard input.")
        ingest.add_argument("--inbox", type=int, required=True, help="The email inbox's id.")
        ingest.add_argument("files", nargs="+", metavar="FILE")
        ingest.add_argument(
            "--direct",
            action="store_true",
            help="Store here even on the embedded default, where only mail handed to the running server "
            "appears live (by default it goes through the server at PUBLIC_BASE_URL when one answers).",
        )
        replay = sub.add_parser("replay", help="Process again every failed email event (of one inbox).")
        replay.add_argument("--inbox", type=int)
        poll = sub.add_parser("poll", help="Fetch new mail from the IMAP mailboxes of email inboxes.")
        poll.add_argument("--inbox", type=int, help="Only this inbox (default: every active one with IMAP).")
        poll.add_argument("--every", type=float, metavar="SECONDS", help="Keep polling at this interval.")

    def handle(self, *args, action, **options):
        if action == "replay":
            return self._replay(options.get("inbox"))
        if action == "poll":
            return self._poll(options.get("inbox"), options.get("every"))
        inbox = Inbox.objects.filter(pk=options["inbox"], kind=Inbox.Kind.EMAIL).first()
        if inbox is None:
            raise CommandError(f"no email inbox with id {options['inbox']}")
        through_server = not options["direct"] and _embedded_layer()
        failed = 0
        for name in options["files"]:
            raw = sys.stdin.buffer.read() if name == "-" else self._read(name)
            if through_server:
                not_taken = mail_deliver_to_server(inbox, raw, settings.PUBLIC_BASE_URL)
                if not not_taken:
                    self.stdout.write(f"{name}: delivered to the server at {settings.PUBLIC_BASE_URL}, live for agents")
                    continue
                self.stdout.write(f"{name}: {not_taken}, so it is stored here; open workspaces show it on reload.")
            messages = inbound_event_receive(
                inbox=inbox, external_id=mail_event_id(inbox, raw), raw=raw, content_type=MAIL_CONTENT_TYPE
            )
            if messages:
                self.stdout.write(f"{name}: message {messages[0].pk} in conversation {messages[0].conversation_id}")
            else:
                failed += 1
                self.stdout.write(f"{name}: stored, failed to process (see the admin's inbound events)")
        if failed:
            # An MTA treats a non-zero exit as "try again later"; the mail is stored, so say done.
            self.stderr.write(f"{failed} mail(s) kept for replay after a fix: manage.py email replay")

    def _read(self, name: str) -> bytes:
        try:
            with open(name, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise CommandError(f"cannot read {name}: {exc}") from exc

    def _replay(self, inbox_id: int | None):
        events = InboundEvent.objects.filter(state=InboundEvent.State.FAILED, inbox__kind=Inbox.Kind.EMAIL)
        if inbox_id:
            events = events.filter(inbox_id=inbox_id)
        for event in events.select_related("inbox"):
            outcome = "processed" if inbound_event_process(event=event) else f"still failing: {event.error[:200]}"
            self.stdout.write(f"event {event.pk}: {outcome}")

    def _poll(self, inbox_id: int | None, every: float | None):
        while True:
            close_old_connections()  # a database restart between rounds must not stop the poller
            # Read afresh each round: inboxes added, deactivated or given new passwords meanwhile.
            inboxes = Inbox.objects.filter(kind=Inbox.Kind.EMAIL, is_active=True)
            mailboxes = [i for i in (inboxes.filter(pk=inbox_id) if inbox_id else inboxes) if imap_config(i)]
            if not mailboxes:
                self.stdout.write("No active email inbox reads a mailbox over IMAP (credentials 'imap').")
            for inbox in mailboxes:
                self._poll_one(inbox)
            if not every:
                return
            time.sleep(every)

    def _poll_one(self, inbox):
        with poll_lock(inbox.pk) as held:  # the same lock as beat's task: never two polls at once
            if not held:
                self.stdout.write(f"{inbox}: a poll is already running")
                return
            try:
                result = imap_poll(inbox)
            except Exception as exc:  # noqa: BLE001 - one broken mailbox must not stop the others
                self.stderr.write(f"{inbox}: {type(exc).__name__}: {exc}")
                return
            self.stdout.write(f"{inbox}: {result.fetched} fetched, {result.stored} new")


def _embedded_layer() -> bool:
    """Whether agents' sockets hear only the server's own process (Channels' in-memory layer)."""
    return settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer")
