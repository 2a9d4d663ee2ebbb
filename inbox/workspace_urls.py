from django.urls import path

from inbox import workspace_views as views

app_name = "workspace"

urlpatterns = [
    path("", views.conversation_list, name="conversation_list"),
    path("conversations/<int:conversation_id>/", views.conversation_detail, name="conversation_detail"),
    path("conversations/<int:conversation_id>/reply/", views.conversation_reply, name="conversation_reply"),
    path("conversations/<int:conversation_id>/earlier/", views.timeline_earlier, name="timeline_earlier"),
    path("sync/", views.sync, name="sync"),
    path("customers/<int:customer_id>/merge/", views.customer_merge_view, name="customer_merge"),
    path("attachments/<int:attachment_id>/", views.attachment, name="attachment"),
    path("messages/<int:message_id>/original.eml", views.message_original, name="message_original"),
]
