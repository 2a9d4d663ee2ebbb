from django.urls import path

from inbox.workspace import (
    action_views,
    canned_views,
    contact_views,
    customer_views,
    new_conversation_views,
    search_views,
    views,
)

app_name = "workspace"

urlpatterns = [
    path("", views.conversation_list, name="conversation_list"),
    path("counts/", views.view_counts, name="view_counts"),
    path("sync/", views.sync, name="sync"),
    path("search/", search_views.search_view, name="search"),
    path("conversations/bulk/", action_views.conversations_bulk, name="conversations_bulk"),
    path("conversations/new/", new_conversation_views.conversation_new, name="conversation_new"),
    path("views/save/", action_views.saved_view_save, name="saved_view_save"),
    path("views/<int:view_id>/delete/", action_views.saved_view_delete, name="saved_view_delete"),
    path("conversations/<int:conversation_id>/", views.conversation_detail, name="conversation_detail"),
    path("conversations/<int:conversation_id>/earlier/", views.timeline_earlier, name="timeline_earlier"),
    path("conversations/<int:conversation_id>/reply/", action_views.conversation_reply, name="conversation_reply"),
    path("conversations/<int:conversation_id>/assign/", action_views.conversation_assign, name="conversation_assign"),
    path("conversations/<int:conversation_id>/status/", action_views.conversation_status, name="conversation_status"),
    path("conversations/<int:conversation_id>/labels/", action_views.conversation_labels, name="conversation_labels"),
    path(
        "conversations/<int:conversation_id>/priority/",
        action_views.conversation_priority,
        name="conversation_priority",
    ),
    path("conversations/<int:conversation_id>/read/", action_views.conversation_read, name="conversation_read"),
    path("messages/<int:message_id>/retry/", action_views.message_retry_view, name="message_retry"),
    path("messages/<int:message_id>/original.eml", views.message_original, name="message_original"),
    path("attachments/<int:attachment_id>/", views.attachment, name="attachment"),
    path("notifications/read/", action_views.notifications_read, name="notifications_read"),
    path("customers/<int:customer_id>/notes/", customer_views.customer_notes, name="customer_notes"),
    path("customers/<int:customer_id>/merge/", customer_views.customer_merge_view, name="customer_merge"),
    path("customers/<int:customer_id>/merge/candidates/", customer_views.merge_candidates, name="merge_candidates"),
    path("customers/<int:customer_id>/merge/preview/", customer_views.merge_preview_view, name="merge_preview"),
    path("merges/<int:merge_id>/undo/", customer_views.merge_undo, name="merge_undo"),
    path("contacts/", contact_views.contact_list, name="contact_list"),
    path("contacts/<int:customer_id>/", contact_views.contact_detail, name="contact_detail"),
    path("contacts/<int:customer_id>/addresses/", contact_views.contact_identity_add, name="contact_identity_add"),
    path(
        "contacts/<int:customer_id>/addresses/<int:identity_id>/remove/",
        contact_views.contact_identity_remove,
        name="contact_identity_remove",
    ),
    path("companies/<int:company_id>/", contact_views.company_detail, name="company_detail"),
    path("canned/", canned_views.canned_list, name="canned_list"),
    path("canned/<int:canned_id>/delete/", canned_views.canned_delete, name="canned_delete"),
]
