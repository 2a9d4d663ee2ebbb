"""Telling agents what concerns them: a mention, a new message in their conversation, a handover."""

from django.template.loader import render_to_string

from conversations.models import Conversation, Message, Notification
from inbox import realtime


def notify(
    *, user_ids, kind: str, conversation: Conversation, text: str, message: Message | None = None, actor=None
) -> None:
    """Record a notification for each of these agents (never for the one who acted) and push it to
    their open workspaces after commit."""
    ids = sorted({pk for pk in user_ids if pk and (actor is None or pk != actor.pk)})
    if not ids:
        return
    created = Notification.objects.bulk_create(
        [
            Notification(
                user_id=pk, kind=kind, conversation=conversation, message=message, actor=actor, text=text[:200]
            )
            for pk in ids
        ]
    )
    for notification in created:
        realtime.publish_on_commit(lambda n=notification: _pushed(n, conversation))


def _pushed(notification: Notification, conversation: Conversation):
    unread = Notification.objects.filter(user_id=notification.user_id, read_at__isnull=True).count()
    html = render_to_string(
        "workspace/_notification_event.html",
        {"notification": notification, "conversation": conversation, "unread": unread, "fresh": True},
    )
    event = {
        "event": "notification.created",
        "inbox_id": conversation.inbox_id,  # the socket passes it on only while the agent is a member
        "conversation_id": conversation.pk,
        "html": html,
    }
    return [realtime.agent_group(notification.user_id)], event
