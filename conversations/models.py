import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from customers.models import ContactIdentity, Customer
from inbox.models import Inbox


def new_reply_token() -> str:
    # Lowercase: mail systems may change the case of an address's local part.
    return secrets.token_hex(8)


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        SNOOZED = "snoozed", "Snoozed"
        RESOLVED = "resolved", "Resolved"

    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="conversations")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="conversations")
    # The identity the conversation runs on: where replies go by default.
    identity = models.ForeignKey(ContactIdentity, on_delete=models.PROTECT, related_name="conversations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned"
    )
    team = models.ForeignKey("inbox.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    labels = models.ManyToManyField("Label", blank=True, related_name="conversations")
    # Set while snoozed: the wake-up task reopens the conversation then and tells its assignee.
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # When the customer's oldest unanswered message came: the "longest waiting" sort. None once answered.
    waiting_since = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=300, blank=True)

    class Priority(models.IntegerChoices):
        NONE = 0, "No priority"
        LOW = 1, "Low"
        MEDIUM = 2, "Medium"
        HIGH = 3, "High"
        URGENT = 4, "Urgent"

    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NONE)
    # When the off-hours period began that this conversation was last told "we are away" in: once a period.
    away_replied_for = models.DateTimeField(null=True, blank=True)
    # Email replies to reply+TOKEN@<the inbox's reply domain> join this conversation.
    reply_token = models.CharField(max_length=32, unique=True, default=new_reply_token)
    # The resolved conversation this one follows, when a late reply started it.
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_message_at = models.DateTimeField(db_index=False)
    last_message_preview = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # The list: newest activity first, keyset-paginated on (last_message_at, id).
            models.Index(fields=["-last_message_at", "-id"], name="conv_activity_idx"),
            models.Index(fields=["inbox", "-last_message_at", "-id"], name="conv_inbox_activity_idx"),
            # The list's usual view: one status, newest activity first; and the longest-waiting sort.
            models.Index(fields=["status", "-last_message_at", "-id"], name="conv_status_activity_idx"),
            models.Index(fields=["status", "waiting_since", "id"], name="conv_status_waiting_idx"),
            # The priority sort: most urgent first, then newest activity.
            models.Index(fields=["status", "-priority", "-last_message_at", "-id"], name="conv_status_priority_idx"),
            # Resync after a reconnect: what changed since a cursor.
            models.Index(fields=["updated_at"], name="conv_updated_idx"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.customer} via {self.inbox}"


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", "Inbound"
        OUTBOUND = "out", "Outbound"
        # A private note between agents: never sent, never shown to the customer.
        NOTE = "note", "Private note"

    class Sender(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    # Denormalized from the conversation so that (inbox, external_id) can be a database constraint.
    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="+")
    identity = models.ForeignKey(
        ContactIdentity, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    direction = models.CharField(max_length=4, choices=Direction.choices)
    sender_type = models.CharField(max_length=10, choices=Sender.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Automatic(models.TextChoices):
        NO = "", "Written by a person"
        AUTO_REPLY = "auto_reply", "Auto-reply"
        BOUNCE = "bounce", "Bounce"
        OWN_ADDRESS = "own", "From our own address"

    text = models.TextField(blank=True)
    html = models.TextField(blank=True, help_text="Sanitized before it is stored.")
    # Email's own parts: its subject, and who else it was to, as written ("Name <a@b.example>"):
    # {"to": [...], "cc": [...], "bcc": [...]}. An outbound mail's "to" adds to the customer; a
    # forward's replaces them, and "forward" says what it forwards ("message" or "conversation").
    subject = models.CharField(max_length=300, blank=True)
    recipients = models.JSONField(default=dict, blank=True)
    # The whole text, quoted history and signature included, when ``text`` shows only the new part.
    full_text = models.TextField(blank=True)
    # Mail written by a machine is kept and shown, labelled, and never answered automatically.
    automatic = models.CharField(max_length=12, choices=Automatic.choices, default="", blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    # The raw event it came from: an email's complete original, downloadable.
    source_event = models.ForeignKey(
        "InboundEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    status_detail = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(help_text="When the sender sent it, by their clock.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="message_unique_inbox_external_id",
            ),
        ]
        indexes = [models.Index(fields=["conversation", "id"], name="message_conversation_idx")]

    def __str__(self):
        return f"{self.get_direction_display()} #{self.pk}: {self.text[:40]}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="attachments/%Y/%m/")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120)
    size = models.PositiveBigIntegerField()
    # An email's inline image, referenced from its HTML as cid:CONTENT_ID.
    content_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.filename


class InboundEvent(models.Model):
    """A request as it reached us, kept before anything else happens so that nothing is lost."""

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        # Failed, and set aside by an admin (audited): kept with its raw body, replayable, but no
        # longer counted against the inbox's health.
        ARCHIVED = "archived", "Archived"

    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="inbound_events")
    external_id = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/json")
    raw = models.BinaryField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["inbox", "external_id"], name="event_unique_inbox_external_id"),
        ]
        indexes = [models.Index(fields=["state", "received_at"], name="event_state_idx")]

    def __str__(self):
        return f"{self.inbox_id}:{self.external_id} ({self.state})"


class Label(models.Model):
    name = models.CharField(max_length=50, unique=True)
    color = models.CharField(
        max_length=7,
        default="#667085",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour like #1f6feb.")],
        help_text="A CSS hex colour.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class CannedResponse(models.Model):
    """A saved answer an agent inserts by typing /shortcut: shared, for a team, or personal."""

    shortcut = models.SlugField(max_length=50)
    text = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Set for a personal response; empty for one the whole team shares.",
    )
    team = models.ForeignKey("inbox.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut"]

    def __str__(self):
        return f"/{self.shortcut}"


class ConversationRead(models.Model):
    """How far an agent has read a conversation: it is unread for them while newer activity exists."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reads")
    read_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="read_unique_conversation_user")]


class Notification(models.Model):
    class Kind(models.TextChoices):
        MENTION = "mention", "Mentioned you"
        MESSAGE = "message", "New message"
        ASSIGNED = "assigned", "Assigned to you"
        SNOOZE_ENDED = "snooze_ended", "Snooze ended"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="notification_user_idx")]
