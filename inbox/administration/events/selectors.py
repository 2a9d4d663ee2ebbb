"""Failed and received provider events, as admins look through them."""

from conversations.models import InboundEvent


def failed_events(*, inbox_id: int | None = None, state: str = InboundEvent.State.FAILED, limit: int = 100):
    events = InboundEvent.objects.select_related("inbox").defer("raw").order_by("-received_at", "-pk")
    if state:
        events = events.filter(state=state)
    if inbox_id:
        events = events.filter(inbox_id=inbox_id)
    return events[:limit]
