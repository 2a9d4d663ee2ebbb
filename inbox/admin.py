from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from inbox.models import ImapCursor, Inbox, InboxMembership, Team
from inbox.realtime import agents_access_changed


class MembershipInline(admin.TabularInline):
    model = InboxMembership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "is_active", "needs_reconnection", "public_token", "created_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "public_token"]
    readonly_fields = ["public_token", "created_at"]
    # The secret and credentials are encrypted at rest; the admin shows neither in lists.
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
