"""What the chat widget asks of the inbox: a visitor's history, their messages, their receipts."""

from django.conf import settings

from conversations.intake import inbound_event_receive
from conversations.models import Message
from conversations.selectors import widget_history
from inbox.connectors.webchat import ratelimit
from inbox.connectors.webchat.connector import Visitor, WebchatConnector, widget_message
from inbox.models import Inbox

connector = WebchatConnector()


def widget_message_of(message: Message) -> dict:
    inbound = message.direction == Message.Direction.INBOUND
    author = message.author
    return widget_message(
        id=message.pk,
        sender="visitor" if inbound else "agent",
        author=(author.get_full_name() or author.get_username()) if author else "",
        text=message.text,
        sent_at=message.sent_at,
        # Inbound external ids are "<visitor>:<client id>".
        client_id=message.external_id.partition(":")[2] if inbound and message.external_id else "",
    )


def visitor_history(*, inbox: Inbox, visitor: Visitor) -> list[dict]:
    messages = widget_history(inbox_id=inbox.pk, visitor_id=visitor.id, verified_email=visitor.verified_email)
    return [widget_message_of(m) for m in messages]


def visitor_message_receive(*, inbox: Inbox, visitor: Visitor, client_ip: str, client_id: str, text: str) -> dict:
    """Take a visitor's message unless they (or their address) are flooding; return the widget's reply."""
    limits = {
        f"widget:visitor:{visitor.id}": settings.WIDGET_RATE_LIMIT_PER_VISITOR,
        f"widget:ip:{client_ip}": settings.WIDGET_RATE_LIMIT_PER_IP,
    }
    if not ratelimit.allow(limits, window_seconds=settings.WIDGET_RATE_LIMIT_WINDOW_SECONDS):
        return {
            "type": "error",
            "code": "rate_limited",
            "id": client_id,
            "message": "You are sending messages too quickly. Please wait a moment.",
        }
    external_id, raw = connector.raw_message(visitor=visitor, client_id=client_id, text=text)
    messages = inbound_event_receive(inbox=inbox, external_id=external_id, raw=raw, content_type="application/json")
    if not messages:
        # Stored raw and marked failed for an admin to replay: not lost, but not shown yet.
        return {"type": "ack", "id": client_id, "message_id": None, "stored": True}
    return {"type": "ack", "id": client_id, "message_id": messages[0].pk, "message": widget_message_of(messages[0])}
