"""Telling agents what concerns them: a mention, a new message in their conversation, a handover."""

from conversations import listeners
from conversations.models import Conversation, Message, Notification


def notify(
    *, user_ids, kind: str, conversation: Conversation, text: str, message: Message | None = None, actor=None
) -> None:
    """Record a notification for each of these agents (never for the one who acted) and have them
    told in their open workspaces after commit (``listeners``)."""
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
    listeners.notifications_created(created, conversation)
