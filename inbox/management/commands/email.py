import hashlib
import sys

from django.core.management.base import BaseCommand, CommandError

from conversations.models import InboundEvent
from conversations.services import inbound_event_process, inbound_event_receive
from inbox.connectors.base import ParseError
from inbox.connectors.email import EmailConnector
from inbox.models import Inbox

connector = EmailConnector()


class Command(BaseCommand):
    help = (
        "Email: `ingest` raw mail files (or standard input, so an MTA can pipe into it) into an email "
        "inbox; `replay` the stored mail that failed, after a fix."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ingest = sub.add_parser("ingest", help="Ingest raw RFC 5322 mail: files, or - for standard input.")
        ingest.add_argument("--inbox", type=int, required=True, help="The email inbox's id.")
        ingest.add_argument("files", nargs="+", metavar="FILE")
        replay = sub.add_parser("replay", help="Process again every failed email event (of one inbox).")
        replay.add_argument("--inbox", type=int)

    def handle(self, *args, action, **options):
        if action == "replay":
            return self._replay(options.get("inbox"))
        inbox = Inbox.objects.filter(pk=options["inbox"], kind=Inbox.Kind.EMAIL).first()
        if inbox is None:
            raise CommandError(f"no email inbox with id {options['inbox']}")
        failed = 0
        for name in options["files"]:
            raw = sys.stdin.buffer.read() if name == "-" else self._read(name)
            try:
                external_id = connector.event_id(inbox=inbox, raw=raw, content_type="message/rfc822")
            except ParseError as exc:
                external_id = f"unparsed:{hashlib.sha256(raw).hexdigest()}"
                self.stderr.write(f"{name}: {exc}")
            messages = inbound_event_receive(
                inbox=inbox, external_id=external_id, raw=raw, content_type="message/rfc822"
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
