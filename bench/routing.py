"""What round-robin routing adds to ingesting a customer's first message, against PostgreSQL and
Redis (presence in the cache, broadcasts through the channel layer).

    .venv/bin/python bench/routing.py [--conversations 300] [--history 20000]

Three webchat inboxes share four agents, three of them online: one inbox is manual, one round-robin
without a capacity, one round-robin with a capacity (its agents' unresolved conversations are
counted on every routing). The round-robin inboxes carry ``--history`` resolved conversations spread
over the agents, as a live inbox does. Then ``--conversations`` new customers write to each inbox,
interleaved (so that the machine's noise falls on all three alike), each through ``message_ingest``
in its own transaction, commit and after-commit broadcasts included. Prints the per-message times
and database statements. Only talks to 127.0.0.1; the throwaway database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import database, floors  # noqa: E402
from bench.stats import summarize  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conversations", type=int, default=300, help="new conversations per inbox")
    p.add_argument("--history", type=int, default=20000, help="resolved conversations per round-robin inbox")
    p.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    )
    p.add_argument("--database", default=f"bench_routing_{uuid.uuid4().hex[:8]}", help="throwaway database name")
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    p.add_argument("--redis-cache-url", default=os.environ.get("BENCH_REDIS_CACHE_URL", "redis://127.0.0.1:6379/12"))
    return p.parse_args(argv)


def seed(history: int):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from conversations.models import Conversation
    from customers.models import ContactIdentity, Customer
    from inbox.models import Inbox, InboxMembership

    agents = [get_user_model().objects.create_user(username=f"bench-agent-{n}", password=None) for n in range(4)]
    inboxes = {
        "manual": Inbox.objects.create(kind="webchat", name="manual"),
        "round-robin": Inbox.objects.create(kind="webchat", name="rr", routing="round_robin"),
        "round-robin, capacity": Inbox.objects.create(
            kind="webchat", name="rr-cap", routing="round_robin", routing_capacity=1_000_000
        ),
    }
    for inbox in inboxes.values():
        InboxMembership.objects.bulk_create([InboxMembership(inbox=inbox, user=agent) for agent in agents])
        if inbox.routing == "manual":
            continue
        customers = Customer.objects.bulk_create([Customer(name="") for _ in range(history)])
        identities = ContactIdentity.objects.bulk_create(
            [ContactIdentity(customer=c, kind="webchat", address=uuid.uuid4().hex) for c in customers]
        )
        Conversation.objects.bulk_create(
            [
                Conversation(
                    inbox=inbox,
                    customer_id=identity.customer_id,
                    identity=identity,
                    assignee=agents[i % len(agents)],
                    status="resolved",
                    last_message_at=timezone.now(),
                )
                for i, identity in enumerate(identities)
            ],
            batch_size=2000,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return inboxes, agents[:3]


def beat(online) -> None:
    """What the online agents' pages do every 25 s: presence forgets them after 90 s without it."""
    from inbox.realtime import presence

    for agent in online:
        presence.presence_join(user_id=agent.pk, channel=f"bench.{agent.pk}")


def measure(inboxes: dict, online: list, conversations: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from conversations.ingest import message_ingest
    from conversations.models import Conversation
    from inbox.connectors.contract import IdentityClaim, InboundMessage

    timings = {name: [] for name in inboxes}
    queries = dict.fromkeys([*inboxes, "heartbeats"], 0)
    current = [None]

    def count(execute, sql, params, many, context):
        queries[current[0]] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        for i in range(conversations):
            if i % 20 == 0:
                current[0] = "heartbeats"
                beat(online)
            for name, inbox in inboxes.items():
                current[0] = name
                address = f"visitor-{name}-{i}"
                inbound = InboundMessage(
                    external_id=uuid.uuid4().hex,
                    sender=IdentityClaim(kind="webchat", address=address, display=address),
                    text="Hello, where is my order?",
                    sent_at=timezone.now(),
                )
                start = time.perf_counter()
                message_ingest(inbox=inbox, inbound=inbound)  # its own transaction: commit and broadcasts
                timings[name].append(time.perf_counter() - start)
    assigned = {
        name: Conversation.objects.filter(inbox=inbox, status="open", assignee__isnull=False).count()
        for name, inbox in inboxes.items()
    }
    return {
        name: {**summarize(timings[name]), "queries": queries[name] / conversations, "assigned": assigned[name]}
        for name in inboxes
    }


def main(argv=None) -> int:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    db_url = database.url_for(args.postgres_url, args.database)
    database.create(args.postgres_url, args.database)
    try:
        env = {**os.environ, "DATABASE_URL": db_url, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "inbox.settings"}
        env.pop("REDIS_URL", None)
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO, env=env, capture_output=True, text=True
        )
        if done.returncode:
            raise SystemExit(f"migrate failed:\n{done.stdout}\n{done.stderr}")
        os.environ.update(
            DATABASE_URL=db_url,
            REDIS_URL=args.redis_url,
            REDIS_CACHE_URL=args.redis_cache_url,
            DEBUG="true",
            LOG_LEVEL="ERROR",
            DJANGO_SETTINGS_MODULE="inbox.settings",
        )
        import django

        django.setup()
        inboxes, online = seed(args.history)
        results = measure(inboxes, online, args.conversations)
        from django.db import connections

        connections.close_all()
        pg = floors.pg_commit(db_url)
        rd = floors.redis_pubsub(args.redis_url, prefix="bench-routing")
        base = results["manual"]["p50_ms"]
        print(f"{args.conversations} new conversations per inbox; {args.history} resolved in each round-robin one")
        print("| inbox | p50 ms | p99 ms | max ms | added p50 ms | statements | routed |")
        print("|---|---|---|---|---|---|---|")
        for name, r in results.items():
            print(
                f"| {name} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} | "
                f"{r['p50_ms'] - base:+.2f} | {r['queries']:.1f} | {r['assigned']} |"
            )
        print(
            f"Floors, same run: PostgreSQL INSERT + COMMIT p50 {pg['p50_ms']:.2f} ms, p99 {pg['p99_ms']:.2f} ms; "
            f"Redis PUBLISH → subscriber p50 {rd['p50_ms']:.2f} ms, p99 {rd['p99_ms']:.2f} ms "
            f"(the machine's load at the time shows in them). Load average: {os.getloadavg()[0]:.1f}."
        )
        return 0
    finally:
        database.drop(args.postgres_url, args.database)


if __name__ == "__main__":
    sys.exit(main())
