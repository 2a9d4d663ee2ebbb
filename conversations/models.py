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
    # Its service level as the list and header show it (conversations.sla keeps these from its clocks):
    # the soonest deadline of a running clock (in the past once breached) and which target it is, or,
    # while every clock is paused, the time the soonest one has left.
    sla_policy = models.ForeignKey("SlaPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_target = models.CharField(max_length=20, blank=True)
    sla_paused_left = models.PositiveIntegerField(null=True, blank=True)
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
            # The "breaching soon" view and sort: the soonest service-level deadline first.
            models.Index(fields=["status", "sla_due_at", "id"], name="conv_status_sla_idx"),
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
    # A customer's answer to the satisfaction survey (1 to 5): a button, a link, a digit or a quick reply.
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
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
        SLA_BREACHED = "sla_breached", "Service level breached"
        RATED = "rated", "Customer rated"

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


class StatusChange(models.Model):
    """A conversation's status as it moved, and who moved it (None: the customer or the system). With
    the messages, it is the history the reports' figures are rebuilt from."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="status_changes")
    at = models.DateTimeField()
    before = models.CharField(max_length=10)
    after = models.CharField(max_length=10)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["conversation", "at", "id"], name="status_change_conv_idx")]


class SlaPolicy(models.Model):
    """Service-level targets, applied to the conversations its conditions match (the most specific
    policy wins: see conversations.sla.policy_for)."""

    name = models.CharField(max_length=100)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    next_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Counted in the inbox's business hours (when it keeps them), or in calendar time.
    business_hours = models.BooleanField(default=True)
    # Conditions: a policy applies where every one it sets holds.
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey("Label", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    priority = models.PositiveSmallIntegerField(null=True, blank=True, choices=Conversation.Priority.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self):
        return self.name


class SlaClock(models.Model):
    """One service-level target being timed on one conversation. It runs while the conversation is
    open, pauses while pending or snoozed, and stops for good when it is met or resolved. Time used
    so far is ``used_seconds`` plus what has passed since ``running_since``, counted in business
    hours when ``business_hours``."""

    class Target(models.TextChoices):
        FIRST_RESPONSE = "first_response", "First response"
        NEXT_RESPONSE = "next_response", "Next response"
        RESOLUTION = "resolution", "Resolution"

    class Outcome(models.TextChoices):
        NONE = "", "Not settled"
        MET = "met", "Met"
        BREACHED = "breached", "Breached"
        CANCELLED = "cancelled", "Cancelled"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="sla_clocks")
    policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target = models.CharField(max_length=20, choices=Target.choices)
    target_seconds = models.PositiveIntegerField()
    business_hours = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    running_since = models.DateTimeField(null=True, blank=True)  # None while paused or stopped
    used_seconds = models.FloatField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)  # while running
    breached_at = models.DateTimeField(null=True, blank=True)  # when it passed its deadline
    stopped_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default="", blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["conversation", "target"], name="sla_clock_conv_idx"),
            # The breach sweep: running clocks past their deadline, not yet breached.
            models.Index(
                fields=["due_at"],
                name="sla_clock_due_idx",
                condition=models.Q(running_since__isnull=False, breached_at__isnull=True),
            ),
        ]


class SlaEvent(models.Model):
    """Everything that happened to a clock, for the reports and for anyone asking why."""

    class Kind(models.TextChoices):
        STARTED = "started", "Started"
        PAUSED = "paused", "Paused"
        RESUMED = "resumed", "Resumed"
        BREACHED = "breached", "Breached"
        STOPPED = "stopped", "Stopped"  # its detail says how: met, breached or cancelled
        RETARGETED = "retargeted", "Policy changed"

    clock = models.ForeignKey(SlaClock, on_delete=models.CASCADE, related_name="events")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "at"], name="sla_event_conv_idx")]


def new_survey_token() -> str:
    return secrets.token_urlsafe(32)


class CsatSurvey(models.Model):
    """The one satisfaction question a resolved conversation's customer is asked, on its channel."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Waiting to be asked"
        ASKED = "asked", "Asked"
        ANSWERED = "answered", "Answered"
        SKIPPED = "skipped", "Not asked"

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="csat")
    identity = models.ForeignKey(ContactIdentity, on_delete=models.CASCADE, related_name="+")
    # Unguessable: email links and Messenger payloads carry it (signed, for links).
    token = models.CharField(max_length=64, unique=True, default=new_survey_token)
    state = models.CharField(max_length=10, choices=State.choices, default=State.SCHEDULED)
    skipped_reason = models.CharField(max_length=200, blank=True)
    due_at = models.DateTimeField()
    asked_at = models.DateTimeField(null=True, blank=True)
    question = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="csat_question"
    )
    answer = models.OneToOneField(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True, max_length=2000)
    answered_at = models.DateTimeField(null=True, blank=True)
    # Who resolved it: their own report counts the answer.
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["state", "due_at"], name="csat_due_idx")]


# ---- the reports' pre-aggregates (conversations.reports keeps them; docs/metrics.md defines them) ----


class ConversationFact(models.Model):
    """A conversation's figures for the reports: one row each, kept current by the services that
    change conversations (conversations.reports.facts) and equal to a rebuild from history."""

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, primary_key=True, related_name="fact")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=20)
    # As the conversation is now: the reports filter by them.
    team = models.ForeignKey("inbox.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Attribution: the channel the customer first came through, and whether this is that first time.
    customer_first_channel = models.CharField(max_length=20)
    customer_first = models.BooleanField(default=False)
    opened_at = models.DateTimeField()
    first_customer_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    first_response_business_seconds = models.PositiveIntegerField(null=True, blank=True)
    first_response_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_resolved_at = models.DateTimeField(null=True, blank=True)
    first_resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    first_resolution_business_seconds = models.PositiveIntegerField(null=True, blank=True)
    # The latest resolution, while the conversation stays resolved.
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolution_business_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolutions = models.PositiveIntegerField(default=0)
    reopens = models.PositiveIntegerField(default=0)
    messages_in = models.PositiveIntegerField(default=0)
    messages_out = models.PositiveIntegerField(default=0)
    # Service levels: how the first-response and resolution clocks ended, and when.
    sla_first_response = models.CharField(max_length=10, blank=True)
    sla_first_response_at = models.DateTimeField(null=True, blank=True)
    sla_resolution = models.CharField(max_length=10, blank=True)
    sla_resolution_at = models.DateTimeField(null=True, blank=True)
    csat_asked_at = models.DateTimeField(null=True, blank=True)
    csat_rating = models.PositiveSmallIntegerField(null=True, blank=True)

    # Each date a figure is counted on, indexed: a day's rollup reads the rows with any of them in
    # that day. (Counters change with every message and are not indexed, so those updates stay cheap.)
    DATES = (
        "opened_at",
        "first_response_at",
        "first_resolved_at",
        "resolved_at",
        "sla_first_response_at",
        "sla_resolution_at",
        "csat_asked_at",
    )

    class Meta:
        indexes = [
            models.Index(fields=["opened_at"], name="fact_opened_idx"),
            models.Index(fields=["first_response_at"], name="fact_first_response_idx"),
            models.Index(fields=["first_resolved_at"], name="fact_first_resolved_idx"),
            models.Index(fields=["resolved_at"], name="fact_resolved_idx"),
            models.Index(fields=["sla_first_response_at"], name="fact_sla_first_idx"),
            models.Index(fields=["sla_resolution_at"], name="fact_sla_resolution_idx"),
            models.Index(fields=["csat_asked_at"], name="fact_csat_asked_idx"),
        ]


class ResponseFact(models.Model):
    """One next response (an agent's reply to a customer who had written since the last one), or a
    next-response clock that breached with no reply."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=20)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    waited_since = models.DateTimeField()
    seconds = models.PositiveIntegerField(null=True, blank=True)  # None: never answered
    business_seconds = models.PositiveIntegerField(null=True, blank=True)
    sla = models.CharField(max_length=10, blank=True)

    class Meta:
        indexes = [models.Index(fields=["at"], name="response_fact_at_idx")]


class VolumeFact(models.Model):
    """How many messages a conversation took in and sent out in one hour (UTC): the volume chart
    and the busiest hours, in any time zone, without reading messages."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=20)
    hour = models.DateTimeField()
    messages_in = models.PositiveIntegerField(default=0)
    messages_out = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "hour"], name="volume_unique_conv_hour")]
        indexes = [models.Index(fields=["hour"], name="volume_hour_idx")]


class ReportDay(models.Model):
    """One inbox's figures for one day (in REPORTS_TIME_ZONE): what a report of any length adds up, a
    row a day, instead of reading every conversation's. Worked out from the facts above by the same
    code a filtered report uses (conversations.reports.days), each time a day is marked dirty.
    Plain columns, so that a year of them adds up without decoding anything row by row; durations
    are kept whole, as sorted packed 32-bit integers, so that medians stay exact."""

    day = models.DateField()
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=20)
    opened = models.PositiveIntegerField(default=0)
    new_customers = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    first_resolved = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    messages_in = models.PositiveIntegerField(default=0)
    messages_out = models.PositiveIntegerField(default=0)
    sla_first_response_met = models.PositiveIntegerField(default=0)
    sla_first_response_breached = models.PositiveIntegerField(default=0)
    sla_next_response_met = models.PositiveIntegerField(default=0)
    sla_next_response_breached = models.PositiveIntegerField(default=0)
    sla_resolution_met = models.PositiveIntegerField(default=0)
    sla_resolution_breached = models.PositiveIntegerField(default=0)
    csat_asked = models.PositiveIntegerField(default=0)
    csat_1 = models.PositiveIntegerField(default=0)
    csat_2 = models.PositiveIntegerField(default=0)
    csat_3 = models.PositiveIntegerField(default=0)
    csat_4 = models.PositiveIntegerField(default=0)
    csat_5 = models.PositiveIntegerField(default=0)
    # Conversations resolved this day, by the channel their customer first came through.
    first_came_webchat = models.PositiveIntegerField(default=0)
    first_came_email = models.PositiveIntegerField(default=0)
    first_came_sms = models.PositiveIntegerField(default=0)
    first_came_messenger = models.PositiveIntegerField(default=0)
    first_came_fake = models.PositiveIntegerField(default=0)
    hours = models.BinaryField(default=bytes)  # customers' messages by hour: 24 packed integers
    first_response = models.BinaryField(default=bytes)
    first_response_business = models.BinaryField(default=bytes)
    next_response = models.BinaryField(default=bytes)
    next_response_business = models.BinaryField(default=bytes)
    first_resolution = models.BinaryField(default=bytes)
    first_resolution_business = models.BinaryField(default=bytes)
    full_resolution = models.BinaryField(default=bytes)
    full_resolution_business = models.BinaryField(default=bytes)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "inbox"], name="report_day_unique_day_inbox")]
        indexes = [models.Index(fields=["day"], name="report_day_day_idx")]


class ReportDayDirty(models.Model):
    """A day of an inbox whose ReportDay must be worked out again (a fact of that day changed)."""

    day = models.DateField()
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "inbox"], name="report_dirty_unique_day_inbox")]
