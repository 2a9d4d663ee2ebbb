"""Seed the bench database: one webchat inbox, its agents and their session cookies, some history.

Run as ``python -m bench.seed AGENTS ORIGIN HISTORY`` with DATABASE_URL set (bench/run.py does this);
prints JSON on the last line of stdout. A subprocess, so the bench process never imports Django.
"""

import json
import os
import sys
import uuid


def main(agents: int, widget_origin: str, history: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from inbox.models import Inbox, InboxMembership

    inbox = Inbox.objects.create(
        kind=Inbox.Kind.WEBCHAT, name="Bench website", settings={"allowed_origins": [widget_origin]}
    )
    cookies = []
    for n in range(agents):
        user = get_user_model().objects.create_user(username=f"bench-agent-{n}", password=None)
        InboxMembership.objects.create(inbox=inbox, user=user)
        client = Client()
        client.force_login(user)  # a real session row in the bench database
        cookies.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
    seed_history(inbox, history)
    with connection.cursor() as cursor:
        # Planner statistics as a live database has them: on never-analyzed tables PostgreSQL
        # picked a scan of the whole inbox for the (inbox, external_id) lookup.
        cursor.execute("ANALYZE")
    return {"inbox_token": inbox.public_token, "cookie_name": settings.SESSION_COOKIE_NAME, "cookies": cookies}


def seed_history(inbox, messages: int, per_visitor: int = 10) -> None:
    """Past webchat conversations, written in bulk (the real ingest path would take minutes)."""
    from django.utils import timezone

    from conversations.models import Conversation, InboundEvent, Message
    from customers.models import ContactIdentity, Customer

    visitors = max(1, messages // per_visitor)
    now = timezone.now()
    customers = Customer.objects.bulk_create([Customer(name="") for _ in range(visitors)])
    identities = ContactIdentity.objects.bulk_create(
        [
            ContactIdentity(customer=c, kind="webchat", address=uuid.uuid4().hex, display="Website visitor")
            for c in customers
        ]
    )
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(
                inbox=inbox,
                customer=i.customer,
                identity=i,
                last_message_at=now,
                last_message_preview="earlier message",
            )
            for i in identities
        ]
    )
    ids = [f"{c.identity.address}:{uuid.uuid4().hex}" for c in conversations for _ in range(per_visitor)]
    Message.objects.bulk_create(
        [
            Message(
                conversation=c,
                inbox=inbox,
                identity=c.identity,
                direction="in",
                sender_type="customer",
                text="earlier message",
                external_id=ids[n * per_visitor + k],
                status="received",
                sent_at=now,
            )
            for n, c in enumerate(conversations)
            for k in range(per_visitor)
        ],
        batch_size=1000,
    )
    InboundEvent.objects.bulk_create(
        [
            InboundEvent(inbox=inbox, external_id=external_id, raw=b"{}", state="processed", processed_at=now)
            for external_id in ids
        ],
        batch_size=1000,
    )


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))))
