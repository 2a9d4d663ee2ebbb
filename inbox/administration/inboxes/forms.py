"""One settings form per inbox kind. Each field says where it lives (``settings`` or the encrypted
``credentials``, dotted for nested keys), so loading and saving are one loop. Secret fields are
never rendered back: left empty, the saved value stays."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit
from zoneinfo import available_timezones

import holidays
import phonenumbers
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q

from conversations.business_hours import parse_weekly_hours, weekly_hours_text
from conversations.models import Label
from inbox.connectors.webchat.snippets import HEX_COLOUR
from inbox.models import Inbox

DEFAULT_COLOUR = "#1f6feb"


class SecretInput(forms.PasswordInput):
    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False)


def secret_field(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(label=label, required=False, widget=SecretInput, help_text=help_text, strip=True)


def _get(data: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _put(data: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    if value in ("", None):
        data.pop(leaf, None)
    else:
        data[leaf] = value


def members_choices(current):
    """Active people, and whoever is a member now even if deactivated: a form that left them out
    would drop them from the inbox (or team) on the next save, and reactivating would not bring them
    back."""
    return (
        get_user_model()
        .objects.filter(Q(is_active=True) | Q(pk__in=[user.pk for user in current]))
        .order_by("username")
    )


def member_label(user) -> str:
    name = user.get_full_name() or user.get_username()
    return name if user.is_active else f"{name} (deactivated)"


def secret_hint(value: str) -> str:
    """Enough for an admin to recognise a saved secret, never enough to use it."""
    return f"saved, ending in …{value[-4:]}" if value and len(value) >= 12 else ("saved" if value else "not set")


# The countries whose public holidays the holidays library knows, by name ("AlandIslands" → "Aland Islands").
HOLIDAY_COUNTRIES = sorted(
    ((entry[1], re.sub(r"(?<=[a-z])(?=[A-Z])", " ", entry[0])) for entry in holidays.registry.COUNTRIES.values()),
    key=lambda choice: choice[1],
)


class InboxForm(forms.Form):
    """What every inbox has; subclasses add their channel's fields in ``STORED``."""

    # field name → "settings.key" or "credentials.key[.subkey]"
    STORED: dict[str, str] = {}
    SECRETS: set[str] = set()

    name = forms.CharField(max_length=200, help_text="What agents see in the list, e.g. “Support email”.")
    members = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Agents who see and answer this inbox's conversations. Nobody else can, by any URL.",
    )
    routing = forms.ChoiceField(choices=Inbox.Routing.choices, initial=Inbox.Routing.MANUAL)
    routing_capacity = forms.IntegerField(
        required=False,
        min_value=1,
        label="Capacity per agent",
        help_text="Round-robin gives an agent at most this many unresolved conversations here. Empty: no limit.",
    )
    assign_on_reply = forms.BooleanField(
        required=False,
        initial=True,
        label="Assign on reply",
        help_text="An unassigned conversation becomes the agent's who answers it.",
    )
    reassign_when_offline = forms.BooleanField(
        required=False, help_text="Hand an agent's open conversations to someone online when they go offline."
    )
    on_resolved_reply = forms.ChoiceField(
        choices=Inbox.ResolvedPolicy.choices,
        initial=Inbox.ResolvedPolicy.REOPEN,
        label="When a customer writes to a resolved conversation",
    )
    hours_enabled = forms.BooleanField(
        required=False,
        label="Keep business hours",
        help_text="Outside them, customers get the away message (once per conversation each time you close).",
    )
    time_zone = forms.ChoiceField(
        required=False, choices=[(z, z) for z in sorted(available_timezones())], initial="UTC", label="Time zone"
    )
    weekly_hours = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 7, "placeholder": "Mon 09:00-12:00 13:00-17:30\nFri 22:00-02:00"}),
        label="Hours",
        help_text="A line a day, with its periods. A period ending before it starts runs past midnight.",
    )
    holiday_country = forms.ChoiceField(
        required=False,
        choices=[("", "None"), *HOLIDAY_COUNTRIES],
        label="Public holidays of",
        help_text="Closed on that country's public holidays (from the holidays library).",
    )
    custom_holidays = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "2026-12-24"}),
        label="Other days closed",
        help_text="One date a line, like 2026-12-24.",
    )
    away_message = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "dir": "auto"}),
        help_text="Sent on the customer's channel when they write outside the hours. Empty: none is sent.",
    )
    csat_enabled = forms.BooleanField(
        required=False,
        label="Ask for satisfaction",
        help_text="Once a conversation is resolved, its customer is asked once, on their channel, to rate it "
        "from 1 to 5 and say why.",
    )
    csat_question = forms.CharField(
        required=False,
        max_length=500,
        label="Question",
        widget=forms.TextInput(attrs={"dir": "auto", "placeholder": "How would you rate the help you got from us?"}),
    )
    csat_delay_minutes = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=10080,
        initial=0,
        label="Ask after (minutes)",
        help_text="Reopened in the meantime, the conversation is not asked until it is resolved again.",
    )
    csat_label_rule = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Every resolved conversation"),
            ("with", "Only with the label"),
            ("without", "Only without the label"),
        ],
        label="Which conversations",
    )
    csat_label_id = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Label")
    reopen_within_days = forms.IntegerField(
        required=False, min_value=0, help_text=Inbox._meta.get_field("reopen_within_days").help_text
    )

    MODEL_FIELDS = (
        "name",
        "routing",
        "routing_capacity",
        "assign_on_reply",
        "reassign_when_offline",
        "on_resolved_reply",
        "hours_enabled",
        "time_zone",
        "weekly_hours",
        "holiday_country",
        "custom_holidays",
        "away_message",
        "csat_enabled",
        "csat_question",
        "csat_delay_minutes",
        "csat_label_rule",
        "csat_label_id",
    )
    # The channel's own fields, grouped as the page shows them.
    SECTIONS: list[tuple[str, list[str]]] = []
    COMMON_SECTIONS = [
        ("Agents", ["members"]),
        ("Assignment", ["routing", "routing_capacity", "assign_on_reply", "reassign_when_offline"]),
        ("Conversations", ["on_resolved_reply", "reopen_within_days"]),
        (
            "Business hours",
            ["hours_enabled", "time_zone", "weekly_hours", "holiday_country", "custom_holidays", "away_message"],
        ),
        (
            "Satisfaction survey",
            ["csat_enabled", "csat_question", "csat_delay_minutes", "csat_label_rule", "csat_label_id"],
        ),
    ]

    def clean_weekly_hours(self):
        try:
            return parse_weekly_hours(self.cleaned_data.get("weekly_hours") or "")
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def clean_time_zone(self):
        return self.cleaned_data.get("time_zone") or "UTC"

    def clean_csat_delay_minutes(self):
        return self.cleaned_data.get("csat_delay_minutes") or 0

    def clean(self):
        data = super().clean()
        if data.get("csat_label_rule") and not data.get("csat_label_id"):
            self.add_error("csat_label_id", "Choose the label the rule is about.")
        return data

    def clean_custom_holidays(self):
        days = []
        for line in (self.cleaned_data.get("custom_holidays") or "").split():
            try:
                days.append(date.fromisoformat(line).isoformat())
            except ValueError:
                raise ValidationError(f"“{line}” is not a date like 2026-12-24.") from None
        return sorted(set(days))

    def sections(self):
        """(title, bound fields) in page order: the name, the channel's fields, then the common ones."""
        groups = [("Inbox", ["name"]), *self.SECTIONS, *self.COMMON_SECTIONS]
        return [(title, [self[name] for name in names]) for title, names in groups]

    def __init__(self, *args, inbox: Inbox | None = None, **kwargs):
        self.inbox = inbox
        if inbox is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(inbox)
        super().__init__(*args, **kwargs)
        self.fields["csat_label_id"].choices = [("", "—"), *Label.objects.values_list("pk", "name")]
        self.fields["members"].queryset = members_choices(inbox.members.all() if inbox and inbox.pk else ())
        self.fields["members"].label_from_instance = member_label
        for name in self.SECRETS:
            saved = _get(inbox.credentials or {}, self.STORED[name].partition(".")[2]) if inbox else ""
            self.fields[name].widget.attrs["placeholder"] = secret_hint(saved or "")

    @classmethod
    def initial_from(cls, inbox: Inbox) -> dict:
        initial = {name: getattr(inbox, name) for name in (*cls.MODEL_FIELDS, "reopen_within_days")}
        initial["members"] = list(inbox.members.values_list("pk", flat=True))
        initial["weekly_hours"] = weekly_hours_text(inbox.weekly_hours or {})
        initial["custom_holidays"] = "\n".join(inbox.custom_holidays or [])
        for name, where in cls.STORED.items():
            if name in cls.SECRETS:
                continue
            store, _, key = where.partition(".")
            value = _get(getattr(inbox, store) or {}, key)
            field = cls.base_fields[name]
            if value is None:
                # Never saved (an inbox from the command line or an older version): the field's own
                # default, which is what the connector assumes too (a colour, SSL for IMAP).
                value = field.initial
            elif isinstance(value, list) and not isinstance(field, forms.MultipleChoiceField):
                value = "\n".join(value)  # a list kept in a text box, one per line
            initial[name] = value
        return initial

    def apply(self, inbox: Inbox) -> dict:
        """Write the cleaned values onto the inbox (unsaved); return what changed, secrets by name only."""
        data, changes = self.cleaned_data, {}
        for name in (*self.MODEL_FIELDS, "reopen_within_days"):
            if getattr(inbox, name) != data[name]:
                changes[name] = "(changed)" if inbox.pk is None else [getattr(inbox, name), data[name]]
                setattr(inbox, name, data[name])
        inbox.settings, inbox.credentials = dict(inbox.settings or {}), dict(inbox.credentials or {})
        for name, where in self.STORED.items():
            store, _, key = where.partition(".")
            value = data.get(name)
            if name in self.SECRETS and not value:
                continue  # empty: keep what is saved
            target = getattr(inbox, store)
            before = _get(target, key)
            if before != value and not (before in ("", None) and value in ("", None)):
                changes[name] = "(changed)" if name in self.SECRETS or store == "credentials" else [before, value]
                _put(target, key, value)
        return changes


class WebchatForm(InboxForm):
    SECTIONS = [
        ("Look", ["color", "greeting"]),
        ("Before the chat", ["prechat_fields", "prechat_required"]),
        ("Where it may appear", ["allowed_origins"]),
    ]
    STORED = {
        "color": "settings.color",
        "greeting": "settings.greeting",
        "prechat_fields": "settings.prechat_fields",
        "prechat_required": "settings.prechat_required",
        "allowed_origins": "settings.allowed_origins",
    }
    color = forms.CharField(
        initial=DEFAULT_COLOUR,
        widget=forms.TextInput(attrs={"type": "color"}),
        label="Colour",
        help_text="The chat button and header.",
    )
    greeting = forms.CharField(
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Shown at the top of the chat before anyone writes, e.g. “Hi! We usually answer within minutes.”",
    )
    prechat_fields = forms.MultipleChoiceField(
        required=False,
        choices=[("name", "Name"), ("email", "Email")],
        widget=forms.CheckboxSelectMultiple,
        label="Ask before the chat starts",
        help_text="Asked once, before the first message. Agents see a typed email as unverified.",
    )
    prechat_required = forms.BooleanField(required=False, label="Visitors must answer before chatting")
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://www.example.com"}),
        help_text="The websites allowed to show the widget, one per line (scheme and host). Empty: any website.",
    )

    def clean_color(self):
        colour = self.cleaned_data["color"]
        if not HEX_COLOUR.match(colour):
            raise ValidationError("A colour like #1f6feb.")
        return colour.lower()

    def clean_allowed_origins(self):
        origins = []
        for line in self.cleaned_data["allowed_origins"].split():
            parts = urlsplit(line.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
                raise ValidationError(f"{line!r} is not an origin: write it as https://www.example.com")
            origins.append(f"{parts.scheme}://{parts.netloc}".lower())
        return origins


class EmailForm(InboxForm):
    SECTIONS = [
        ("Address", ["address", "reply_domain"]),
        ("Replies", ["signature"]),
        (
            "Incoming mail (IMAP)",
            ["imap_host", "imap_port", "imap_ssl", "imap_username", "imap_password", "imap_folder", "imap_move_to"],
        ),
        ("Outgoing mail (SMTP)", ["smtp_host", "smtp_port", "smtp_security", "smtp_username", "smtp_password"]),
        ("Email service provider", ["inbound_signing_key"]),
    ]
    STORED = {
        "address": "settings.address",
        "reply_domain": "settings.reply_domain",
        "signature": "settings.signature",
        "imap_host": "credentials.imap.host",
        "imap_port": "credentials.imap.port",
        "imap_ssl": "credentials.imap.ssl",
        "imap_username": "credentials.imap.username",
        "imap_password": "credentials.imap.password",
        "imap_folder": "credentials.imap.folder",
        "imap_move_to": "credentials.imap.move_to",
        "smtp_host": "credentials.smtp.host",
        "smtp_port": "credentials.smtp.port",
        "smtp_security": "credentials.smtp.security",
        "smtp_username": "credentials.smtp.username",
        "smtp_password": "credentials.smtp.password",
        "inbound_signing_key": "credentials.inbound_signing_key",
    }
    SECRETS = {"imap_password", "smtp_password", "inbound_signing_key"}

    address = forms.EmailField(help_text="The address customers write to. Replies are sent from it.")
    reply_domain = forms.CharField(
        required=False,
        help_text="Optional: a domain whose reply+TOKEN@ addresses route replies back to the right conversation.",
    )
    signature = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "dir": "auto"}),
        help_text="Under every email from this inbox, after the agent's own signature (set on their profile).",
    )
    imap_host = forms.CharField(
        required=False, label="IMAP server", help_text="e.g. imap.example.com. Empty: no polling."
    )
    imap_port = forms.IntegerField(
        required=False, min_value=1, max_value=65535, label="IMAP port", help_text="993 for SSL."
    )
    imap_ssl = forms.BooleanField(required=False, initial=True, label="IMAP over SSL")
    imap_username = forms.CharField(required=False, label="IMAP username")
    imap_password = secret_field("IMAP password", "An app password where the provider offers one.")
    imap_folder = forms.CharField(required=False, label="IMAP folder", help_text="Read from here. Default: INBOX.")
    imap_move_to = forms.CharField(
        required=False, label="Move read mail to", help_text="Optional folder; empty leaves mail where it is."
    )
    smtp_host = forms.CharField(
        required=False,
        label="SMTP server",
        help_text="For replies, e.g. smtp.example.com. Empty: the site's own mail settings send them.",
    )
    smtp_port = forms.IntegerField(
        required=False, min_value=1, max_value=65535, label="SMTP port", help_text="587 or 465."
    )
    smtp_security = forms.ChoiceField(
        choices=[("starttls", "STARTTLS (587)"), ("ssl", "SSL/TLS (465)"), ("none", "None (local relays only)")],
        initial="starttls",
        label="SMTP security",
    )
    smtp_username = forms.CharField(required=False, label="SMTP username")
    smtp_password = secret_field("SMTP password", "Left empty, the saved password stays.")
    inbound_signing_key = secret_field(
        "Email provider's signing key",
        "Only when Mailgun, Mandrill or another provider posts mail to the webhook URLs below.",
    )

    def clean(self):
        data = super().clean()
        saved = ((self.inbox.credentials or {}) if self.inbox else {}).get("imap") or {}
        if data.get("imap_host") and not data.get("imap_username"):
            self.add_error("imap_username", "The IMAP server needs a username.")
        if data.get("imap_host") and not data.get("imap_password") and not saved.get("password"):
            self.add_error("imap_password", "The IMAP server needs a password.")
        return data


class SmsForm(InboxForm):
    SECTIONS = [("Twilio", ["account_sid", "auth_token", "from_number", "messaging_service_sid"])]
    STORED = {
        "account_sid": "credentials.account_sid",
        "auth_token": "credentials.auth_token",
        "from_number": "settings.from_number",
        "messaging_service_sid": "settings.messaging_service_sid",
    }
    SECRETS = {"auth_token"}

    account_sid = forms.RegexField(
        regex=r"^AC[0-9a-fA-F]{32}$",
        label="Account SID",
        help_text="Twilio Console → Account info; starts with AC.",
        error_messages={"invalid": "An Account SID is AC followed by 32 hexadecimal characters."},
    )
    auth_token = secret_field("Auth Token", "Twilio Console → Account info. It also checks Twilio's signatures.")
    from_number = forms.CharField(
        required=False, label="Twilio phone number", help_text="The number customers text, as +15551234567."
    )
    messaging_service_sid = forms.RegexField(
        regex=r"^MG[0-9a-fA-F]{32}$",
        required=False,
        label="Messaging Service SID",
        help_text="Instead of a number: send through a Messaging Service (MG…).",
    )

    def clean_from_number(self):
        raw = self.cleaned_data["from_number"]
        if not raw:
            return ""
        try:
            number = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException as exc:
            raise ValidationError("Write the number with its country code, as +15551234567.") from exc
        if not phonenumbers.is_possible_number(number):
            raise ValidationError("This is not a possible phone number.")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def clean(self):
        data = super().clean()
        if not data.get("from_number") and not data.get("messaging_service_sid"):
            self.add_error("from_number", "Give the number to send from, or a Messaging Service SID.")
        if not data.get("auth_token") and not (self.inbox and (self.inbox.credentials or {}).get("auth_token")):
            self.add_error("auth_token", "Twilio's Auth Token is needed to send and to check signatures.")
        return data


class MessengerForm(InboxForm):
    SECTIONS = [("Facebook page", ["page_id", "page_access_token", "app_secret", "verify_token", "human_agent_tag"])]
    STORED = {
        "page_id": "settings.page_id",
        "page_access_token": "credentials.page_access_token",
        "app_secret": "credentials.app_secret",
        "verify_token": "credentials.verify_token",
        "human_agent_tag": "settings.human_agent_tag",
    }
    SECRETS = {"page_access_token", "app_secret"}

    page_id = forms.RegexField(regex=r"^\d{5,20}$", label="Page ID", help_text="The Facebook page's numeric id.")
    page_access_token = secret_field(
        "Page access token", "From the Meta app's Messenger settings, with pages_messaging permission."
    )
    app_secret = secret_field("App secret", "Meta app → Settings → Basic. It checks the signature of every webhook.")
    verify_token = forms.CharField(
        max_length=100,
        label="Verify token",
        help_text="Any phrase; paste the same into Meta's webhook settings with the callback URL.",
    )
    human_agent_tag = forms.BooleanField(
        required=False,
        label="Human agent tag",
        help_text="Answer up to 7 days after the customer's last message (Meta must have granted it to the app).",
    )

    def clean(self):
        data = super().clean()
        saved = (self.inbox.credentials or {}) if self.inbox else {}
        for name in ("page_access_token", "app_secret"):
            if not data.get(name) and not saved.get(name):
                self.add_error(name, "Needed to connect the page.")
        return data


class FakeForm(InboxForm):
    pass


FORMS: dict[str, type[InboxForm]] = {
    Inbox.Kind.WEBCHAT: WebchatForm,
    Inbox.Kind.EMAIL: EmailForm,
    Inbox.Kind.SMS: SmsForm,
    Inbox.Kind.MESSENGER: MessengerForm,
    Inbox.Kind.FAKE: FakeForm,
}
