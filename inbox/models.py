import secrets

from django.conf import settings as django_settings
from django.db import models

from inbox.secrets.fields import EncryptedSecretField, EncryptedTypedJSONField


def new_public_token() -> str:
    return secrets.token_urlsafe(18)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Inbox(models.Model):
    """One configured channel: a website widget, a mailbox, a phone number, a Facebook page."""

    class Kind(models.TextChoices):
        WEBCHAT = "webchat", "Website chat"
        EMAIL = "email", "Email"
        SMS = "sms", "SMS (Twilio)"
        MESSENGER = "messenger", "Facebook Messenger"
        FAKE = "fake", "Fake"  # for tests and demos

    class Routing(models.TextChoices):
        MANUAL = "manual", "Manual: agents pick or assign conversations"
        ROUND_ROBIN = "round_robin", "Round-robin among online members"

    class ResolvedPolicy(models.TextChoices):
        REOPEN = "reopen", "Reopen the resolved conversation"
        NEW = "new", "Start a new conversation"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=200)
    # Public: it sits in the widget snippet and in webhook URLs.
    public_token = models.CharField(max_length=64, unique=True, default=new_public_token)
    # Private: signs identity claims and webhooks. Encrypted at rest.
    secret = EncryptedSecretField(default=new_secret)
    credentials = EncryptedTypedJSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    on_resolved_reply = models.CharField(max_length=10, choices=ResolvedPolicy.choices, default=ResolvedPolicy.REOPEN)
    reopen_within_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A reply to a resolved conversation reopens it only if its last message is at most this many "
        "days old; a later reply starts a new conversation linked to the old one. Empty: no limit.",
    )
    is_active = models.BooleanField(default=True)
    # Set when the provider refuses our credentials (a revoked page token): admins must reconnect.
    needs_reconnection = models.CharField(max_length=500, blank=True)
    # Health, at a glance: when a customer last reached us here, and the last thing that went wrong.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    routing = models.CharField(max_length=20, choices=Routing.choices, default=Routing.MANUAL)
    routing_capacity = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Round-robin gives an agent no more than this many unresolved conversations of this inbox. "
        "Empty: no limit.",
    )
    # An unassigned conversation becomes the agent's who answers it.
    assign_on_reply = models.BooleanField(default=True)
    # Business hours (conversations.business_hours): when the team answers, in its own time zone.
    hours_enabled = models.BooleanField(default=False)
    time_zone = models.CharField(max_length=64, default="UTC")
    # {"0": [["09:00", "12:00"], ["13:00", "17:30"]], …} by weekday (0 is Monday); a period that ends
    # at or before its start runs past midnight into the next day.
    weekly_hours = models.JSONField(default=dict, blank=True)
    holiday_country = models.CharField(max_length=8, blank=True, help_text="ISO code, for the holidays library.")
    custom_holidays = models.JSONField(default=list, blank=True)  # ["2026-12-24", …]
    away_message = models.TextField(blank=True, max_length=2000)
    # Customer satisfaction (conversations.csat): asked once, on the customer's channel, after resolving.
    csat_enabled = models.BooleanField(default=False)
    csat_question = models.TextField(blank=True, max_length=500)
    csat_delay_minutes = models.PositiveIntegerField(default=0)
    # Only conversations with ("with") or without ("without") one label are asked; "" asks all. The
    # label is kept by id: the labels live above this app's models.
    csat_label_rule = models.CharField(max_length=10, blank=True)
    csat_label_id = models.PositiveIntegerField(null=True, blank=True)
    reassign_when_offline = models.BooleanField(
        default=False,
        help_text="Hand an offline agent's open conversations of this inbox to someone online.",
    )
    members = models.ManyToManyField(
        django_settings.AUTH_USER_MODEL, through="InboxMembership", related_name="inboxes", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "inboxes"

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def secrets(self) -> list[str]:
        """The current secret first, then ``credentials["previous_secrets"]`` kept while rotating."""
        return [self.secret, *(self.credentials or {}).get("previous_secrets", [])]


class InboxMembership(models.Model):
    """An agent's right to see and answer an inbox's conversations."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)
    # Round-robin's turn: the member routed to longest ago goes next.
    last_routed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["inbox", "user"], name="membership_unique_inbox_user")]

    def __str__(self):
        return f"{self.user} in {self.inbox}"


class ImapCursor(models.Model):
    """How far an email inbox's IMAP folder has been read: UIDs are only comparable within one
    UIDVALIDITY, so a changed UIDVALIDITY means reading the folder again from the start (mail
    already stored is recognised by its Message-ID, so nothing is imported twice)."""

    inbox = models.OneToOneField(Inbox, on_delete=models.CASCADE, related_name="imap_cursor")
    folder = models.CharField(max_length=200)
    uidvalidity = models.BigIntegerField(null=True)
    last_uid = models.BigIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self):
        return f"{self.inbox} {self.folder} {self.uidvalidity}:{self.last_uid}"


class Team(models.Model):
    """A group of agents conversations can be handed to (billing, returns…), with its own list view."""

    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(django_settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class AuditEntry(models.Model):
    """Who did what, and when: admins' changes and agents' actions, kept after the actor is gone."""

    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)  # as it was, if the account is deleted
    action = models.CharField(max_length=50)  # "conversation.assign", "inbox.update", …
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target_type = models.CharField(max_length=50, blank=True)
    target_id = models.BigIntegerField(null=True, blank=True)
    summary = models.CharField(max_length=500)
    # What changed, never a secret: before/after of the fields that changed.
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at", "-id"], name="audit_at_idx"),
            models.Index(fields=["action", "-at"], name="audit_action_idx"),
            models.Index(fields=["actor", "-at"], name="audit_actor_idx"),
            models.Index(fields=["inbox", "-at"], name="audit_inbox_idx"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name}: {self.summary}"


class SignedInSession(models.Model):
    """One browser signed in as a user: where from, since when, last seen. It lives and dies with
    its Django session (deleting the session, by signing out, expiry or revocation, deletes it), so
    the list a user sees is exactly the sessions that can still act as them."""

    session = models.OneToOneField("sessions.Session", on_delete=models.CASCADE, related_name="signed_in")
    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    user_agent = models.CharField(max_length=500, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    signed_in_at = models.DateTimeField(null=True, blank=True)  # unknown for sessions older than this table
    last_seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "-last_seen_at"], name="signed_in_user_seen_idx")]

    def __str__(self):
        return f"{self.user} from {self.ip_address or 'somewhere'}"


class AgentProfile(models.Model):
    """What an agent sets for themself: the signature under their emails."""

    user = models.OneToOneField(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    signature = models.TextField(blank=True, max_length=2000)


class SavedView(models.Model):
    """A list an agent comes back to: a view, filters and a sort, saved under a name (per agent)."""

    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=60)
    query = models.CharField(max_length=500, help_text="The list's query string, as ListState.query writes it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_view_unique_name")]
