import json

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from inbox.models import ImapCursor, Inbox, InboxMembership, Team
from inbox.realtime.publisher import agents_access_changed


class MembershipInline(admin.TabularInline):
    model = InboxMembership
    extra = 1
    autocomplete_fields = ["user"]


def _hint(value) -> str:
    """Enough to recognise a saved value, never enough to use it."""
    value = str(value)
    return f"saved, ending in …{value[-4:]}" if len(value) >= 12 else "saved"


def _masked(data):
    if isinstance(data, dict):
        return {key: _masked(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_masked(value) for value in data]
    return _hint(data)


class InboxAdminForm(forms.ModelForm):
    """The secret and the credentials are write-only here: the page shows a hint, never the value
    (a page, once rendered, sits in caches, screenshots and browser history); left empty, what is
    saved stays."""

    secret = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
    )
    credentials = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}))

    class Meta:
        model = Inbox
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Never rendered back: the initial values would be the decrypted ones.
        self.initial["secret"] = self.initial["credentials"] = ""
        inbox = self.instance
        if inbox.pk:
            self.fields["secret"].help_text = f"{_hint(inbox.secret)}. Leave empty to keep it."
            saved = json.dumps(_masked(inbox.credentials or {}), ensure_ascii=False)
            hint = f"Saved: {saved}. Leave empty to keep them; JSON typed here replaces them all."
            self.fields["credentials"].help_text = hint
        else:
            self.fields["secret"].help_text = "Leave empty for a random one."

    def clean_secret(self):
        return self.cleaned_data["secret"] or self.instance.secret

    def clean_credentials(self):
        typed = self.cleaned_data["credentials"].strip()
        if not typed:
            return self.instance.credentials or {}
        try:
            value = json.loads(typed)
        except ValueError as exc:
            raise forms.ValidationError("Credentials are a JSON object.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("Credentials are a JSON object.")
        return value


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    form = InboxAdminForm
    list_display = ["name", "kind", "is_active", "needs_reconnection", "public_token", "created_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "public_token"]
    readonly_fields = ["public_token", "created_at"]
    # The secret and credentials are encrypted at rest; the admin shows neither in lists, and on
    # the change page only a hint (InboxAdminForm).
    fields = [
        "kind",
        "name",
        "is_active",
        "on_resolved_reply",
        "reopen_within_days",
        "needs_reconnection",
        "settings",
        "secret",
        "credentials",
        "public_token",
        "created_at",
    ]
    inlines = [MembershipInline]

    def save_related(self, request, form, formsets, change):
        before = set(form.instance.memberships.values_list("user_id", flat=True))
        super().save_related(request, form, formsets, change)
        after = set(form.instance.memberships.values_list("user_id", flat=True))
        agents_access_changed(before ^ after)


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class AgentAdmin(UserAdmin):
    """Django's user admin, telling open sockets when an account is deactivated."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data:
            agents_access_changed([obj.pk])


@admin.register(ImapCursor)
class ImapCursorAdmin(admin.ModelAdmin):
    """How far each mailbox has been read, and its last error (a wrong password, a server down)."""

    list_display = ["inbox", "folder", "uidvalidity", "last_uid", "last_polled_at", "last_error"]
    readonly_fields = ["inbox", "folder", "uidvalidity", "last_uid", "last_polled_at", "last_error"]

    def has_add_permission(self, request):
        return False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["members"]
