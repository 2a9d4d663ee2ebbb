import os
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from conversations.business_hours import parse_weekly_hours
from conversations.ingest import message_ingest
from conversations.models import CannedResponse, Conversation, InboundEvent, Label, SlaPolicy
from conversations.replies import message_reply
from inbox.administration.inboxes.services import inbox_create, membership_add
from inbox.connectors.contract import IdentityClaim, InboundMessage
from inbox.management.demo_history import demo_history_seed
from inbox.models import Inbox, Team

# Sample mails to hand to the running demo (`manage.py email ingest`), as a mail server would.
DEMO_MAIL = Path(__file__).resolve().parents[1] / "demo_mail"

DEMO_INBOX_NAMES = {
    Inbox.Kind.WEBCHAT: "Website chat",
    Inbox.Kind.EMAIL: "Support email",
    Inbox.Kind.SMS: "Text messages",
    Inbox.Kind.MESSENGER: "Facebook page",
}
# What the first demos made for the test suite's own connector: it belongs in tests, not on screen.
OLD_TEST_INBOX = "Test channel"
DEMO_INBOX_SETTINGS = {
    Inbox.Kind.WEBCHAT: {"greeting": "Hi there! Ask us anything."},
    Inbox.Kind.EMAIL: {"address": "support@example.com", "signature": "Example Shop · support@example.com"},
    Inbox.Kind.SMS: {"from_number": "+15005550006"},  # Twilio's test number: connect a real one
}

SAMPLES = [
    (
        Inbox.Kind.WEBCHAT,
        "Ada Lovelace",
        ["Hi! My order #1042 hasn't arrived yet.", "It was due on Monday."],
        "Sorry about that, Ada. I'm checking with the courier now.",
    ),
    (Inbox.Kind.WEBCHAT, "Grace Hopper", ["Do you ship to Canada?"], None),
    (Inbox.Kind.EMAIL, "Katherine Johnson", ["Hello, I was charged twice for order #2231."], None),
    (Inbox.Kind.SMS, "Margaret Hamilton", ["Is the store open on Sunday?"], None),
    (Inbox.Kind.MESSENGER, "Hedy Lamarr", ["Hi! Do you have the blue one in size M?"], None),
]


class Command(BaseCommand):
    help = "Prepare a ready-to-try site: an admin agent, an inbox of each kind, sample conversations."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG=False.")

    def handle(self, *args, username, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError("demo creates a known login; it runs only with DEBUG=True (or --force).")
        password = os.environ.get("DEMO_PASSWORD", "inbox-demo")
        User = get_user_model()
        admin, created = User.objects.get_or_create(
            username=username,
            defaults={"is_staff": True, "is_superuser": True, "first_name": "Demo", "last_name": "Admin"},
        )
        if created:
            admin.set_password(password)
            admin.save()
        # The demo's own sample data, from before: a fresh demo has no test inbox on screen. Its
        # conversations and events protect it, so they go first (their messages go with them).
        old = Inbox.objects.filter(kind=Inbox.Kind.FAKE, name=OLD_TEST_INBOX)
        with transaction.atomic():
            Conversation.objects.filter(inbox__in=old).delete()
            InboundEvent.objects.filter(inbox__in=old).delete()
            old.delete()
        inboxes, fresh = {}, False
        for kind, name in DEMO_INBOX_NAMES.items():
            inbox = Inbox.objects.filter(kind=kind, name=name).first()
            if inbox is None:
                inbox, fresh = inbox_create(kind=kind, name=name, options=DEMO_INBOX_SETTINGS.get(kind, {})), True
                self._service_levels(inbox)
                self._samples(inbox, admin)
            membership_add(inbox=inbox, user=admin)
            inboxes[kind] = inbox
        self._workspace_extras(admin)
        if fresh:
            # Past weeks of support, so that the Reports page has something to show from the start.
            done = demo_history_seed(inboxes=inboxes, agents=[admin, *self._teammates(inboxes)])
            self.stdout.write(f"  (six weeks of past conversations for the reports: {done})")
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Agent workspace: {base}/")
        note = "" if created else " (set when the demo first ran; unchanged since)"
        self.stdout.write(f"  Login:           {username} / {password}{note}")
        self.stdout.write(f"  Settings:        {base}/settings/  (inboxes, people, routing, service levels, audit log)")
        self.stdout.write(f"  Reports:         {base}/reports/")
        self.stdout.write(f"  Try the widget:  {base}/try/{inboxes[Inbox.Kind.WEBCHAT].public_token}/")
        email = inboxes[Inbox.Kind.EMAIL].pk
        self.stdout.write(
            f"  Try email:       DEBUG=true .venv/bin/python manage.py email ingest --inbox {email} "
            f"{DEMO_MAIL.relative_to(settings.BASE_DIR)}/*.eml"
        )

    def _service_levels(self, inbox):
        """A policy for everyone, business hours on the email inbox, the survey on every inbox."""
        SlaPolicy.objects.get_or_create(
            name="Standard",
            defaults={"first_response_seconds": 3600, "next_response_seconds": 3600, "resolution_seconds": 86400},
        )
        inbox.csat_enabled = True
        if inbox.kind == Inbox.Kind.EMAIL:
            inbox.hours_enabled = True
            inbox.weekly_hours = parse_weekly_hours(
                "\n".join(f"{d} 09:00-18:00" for d in ("Mon", "Tue", "Wed", "Thu", "Fri"))
            )
        inbox.save(update_fields=["csat_enabled", "hours_enabled", "weekly_hours"])

    def _teammates(self, inboxes) -> list:
        """Two agents who answered the past weeks' customers (they have no password: nobody signs in as them)."""
        User = get_user_model()
        mates = []
        for username, first, last in [("sam", "Sam", "Lee"), ("noor", "Noor", "Aziz")]:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last}
            )
            if created:
                user.set_unusable_password()
                user.save()
            for inbox in inboxes.values():
                membership_add(inbox=inbox, user=user)
            mates.append(user)
        return mates

    def _workspace_extras(self, admin):
        """Labels, a team and canned responses, so that the workspace's menus have something in them."""
        for name, color in [("billing", "#b54708"), ("vip", "#b42318"), ("bug", "#6941c6")]:
            Label.objects.get_or_create(name=name, defaults={"color": color})
        Team.objects.get_or_create(name="Support")[0].members.add(admin)
        for shortcut, text in [
            ("thanks", "Thank you for writing to us! We'll get back to you shortly."),
            ("refund", "I've issued a refund; it should reach your account within 5 business days."),
        ]:
            CannedResponse.objects.get_or_create(shortcut=shortcut, owner=None, team=None, defaults={"text": text})

    def _samples(self, inbox, admin):
        for kind, name, texts, reply in SAMPLES:
            if kind != inbox.kind:
                continue
            if kind == Inbox.Kind.WEBCHAT:
                sender = IdentityClaim(kind="webchat", address=uuid.uuid4().hex, display="Website visitor")
            elif kind == Inbox.Kind.SMS:
                sender = IdentityClaim(kind="phone", address="+14155550123", display="+1 415 555 0123")
            elif kind == Inbox.Kind.MESSENGER:
                sender = IdentityClaim(kind="messenger", address="6789012345678901", display="Messenger user")
            else:
                address = name.split()[0].lower() + "@example.com"
                sender = IdentityClaim(kind="email", address=address, display=address)
            message = None
            for text in texts:
                message = message_ingest(
                    inbox=inbox,
                    inbound=InboundMessage(
                        external_id=f"demo:{uuid.uuid4().hex}",
                        sender=sender,
                        text=text,
                        sent_at=timezone.now(),
                        customer_name=name,
                    ),
                )
            if reply and message:
                message_reply(conversation=message.conversation, author=admin, text=reply)
