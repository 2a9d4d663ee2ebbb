"""What agents' browsers are told when messages, conversations and notifications change.

This module is the workspace's listener on ``conversations.listeners`` (registered in
``inbox/apps.py``): conversations announce a change, and this renders the fragments and publishes them
after commit. Each event carries its type, ids and the HTML fragments that htmx swaps into the page
(out-of-band), so the browser needs no second request.
"""

from django.template.loader import render_to_string

from conversations.models import Conversation, Notification
from conversations.selectors import conversations_for_broadcast, message_for_display, workspace_controls
from inbox.realtime import publisher


def _event(kind: str, message):
    conversation = message.conversation
    html = render_to_string(
        "workspace/_event_message.html",
        {"message": message, "conversation": conversation, "created": kind == "message.created"},
    )
    event = {
        "event": kind,
        "inbox_id": conversation.inbox_id,
        "conversation_id": conversation.pk,
        "customer_id": conversation.customer_id,
        "message_id": message.pk,
        "html": html,
    }
    return [publisher.inbox_group(conversation.inbox_id)], event


def message_created(message) -> None:
    """Announce a new message, rendered from the objects just written (with its conversation's
    customer, inbox and assignee loaded): no query on the hot path."""
    publisher.publish_on_commit(lambda: _event("message.created", message))


def message_updated(message_id: int) -> None:
    def build():
        message = message_for_display(message_id)
        return _event("message.updated", message) if message else None

    publisher.publish_on_commit(build)


def conversations_updated(conversation_ids: list[int]) -> None:
    """Announce conversations whose state changed (assignee, team, status, labels): their list rows
    and, for agents who have one open, its header."""

    def build():
        conversations = conversations_for_broadcast(conversation_ids)
        controls = workspace_controls(inbox_ids={c.inbox_id for c in conversations})
        return [
            (
                [publisher.inbox_group(conversation.inbox_id)],
                {
                    "event": "conversation.updated",
                    "inbox_id": conversation.inbox_id,
                    "conversation_id": conversation.pk,
                    "html": render_to_string(
                        "workspace/_conversation_event.html",
                        {
                            "conversation": conversation,
                            "controls": controls,
                            "agents": controls.agents(conversation.inbox_id),
                        },
                    ),
                },
            )
            for conversation in conversations
        ]

    publisher.publish_on_commit(build)


def notifications_created(notifications: list[Notification], conversation: Conversation) -> None:
    for notification in notifications:
        publisher.publish_on_commit(lambda n=notification: _notification_event(n, conversation))


def _notification_event(notification: Notification, conversation: Conversation):
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
    return [publisher.agent_group(notification.user_id)], event
