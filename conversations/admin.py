from django.contrib import admin, messages

from conversations.intake import inbound_event_process
from conversations.models import CannedResponse, Conversation, InboundEvent, Label, Message


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["pk", "customer", "inbox", "status", "assignee", "last_message_at"]
    list_filter = ["status", "inbox"]
    raw_id_fields = ["customer", "identity", "assignee"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["pk", "conversation", "direction", "sender_type", "status", "created_at"]
    list_filter = ["direction", "status", "inbox"]
    raw_id_fields = ["conversation", "identity", "author"]
    search_fields = ["external_id"]


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    """Everything that reached us, failed events first: what broke, and a way to replay it."""

    list_display = ["pk", "inbox", "external_id", "state", "attempts", "received_at", "short_error"]
    list_filter = ["state", "inbox"]
    search_fields = ["external_id", "error"]
    readonly_fields = [
        "inbox",
        "external_id",
        "content_type",
        "raw_text",
        "state",
        "error",
        "attempts",
        "received_at",
        "processed_at",
    ]
    exclude = ["raw"]
    actions = ["replay"]

    def get_ordering(self, request):
        return ["state", "-received_at"]

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.error[:120]

    @admin.display(description="raw payload")
    def raw_text(self, obj):
        return bytes(obj.raw).decode("utf-8", errors="replace")

    @admin.action(description="Replay the selected events")
    def replay(self, request, queryset):
        results = [inbound_event_process(event=event) for event in queryset.select_related("inbox")]
        failed = queryset.filter(state=InboundEvent.State.FAILED).count()
        self.message_user(
            request,
            f"Replayed {len(results)} event(s); {failed} still failing.",
            messages.WARNING if failed else messages.SUCCESS,
        )


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["name", "color"]
    search_fields = ["name"]


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["shortcut", "owner", "team", "updated_at"]
    list_filter = ["team"]
    search_fields = ["shortcut", "text"]
