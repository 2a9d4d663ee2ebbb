import json

from django.core.management.base import BaseCommand, CommandError

from inbox.administration.inboxes.services import inbox_create, inbox_describe
from inbox.models import Inbox


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CommandError(f"--set takes key=value, not {text!r}")
    return key.strip(), value


class Command(BaseCommand):
    help = "Manage inboxes: create one, or list them. Prints JSON."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create an inbox and print it as one JSON object.")
        create.add_argument("--kind", required=True, choices=Inbox.Kind.values)
        create.add_argument("--name", required=True)
        create.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="on_resolved_reply=reopen|new, credentials.KEY=..., or any setting "
            "(JSON values allowed, e.g. allowed_origins='[\"https://example.com\"]').",
        )
        create.add_argument("--member", action="append", default=[], metavar="USERNAME", help="Agent to add.")
        sub.add_parser("list", help="Print every inbox, one JSON object per line (without secrets).")

    def handle(self, *args, action, **options):
        if action == "list":
            for inbox in Inbox.objects.order_by("pk"):
                self.stdout.write(json.dumps(inbox_describe(inbox)))
            return
        try:
            inbox = inbox_create(
                kind=options["kind"],
                name=options["name"],
                options=dict(_key_value(item) for item in options["set"]),
                members=options["member"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:  # validation errors from full_clean
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(inbox_describe(inbox, with_secret=True)))
