"""Every row of the reports bench's database: 50,000 customers, 100,000 conversations and 1,000,000
messages with their status changes, service-level clocks and events, and surveys, generated in
Python from one seed (`generate`), loaded with COPY (`load`); `seed` makes the whole database once.
"""

from __future__ import annotations

import json
import random
import time
import uuid

from bench import workspace
from bench.reports_database import GENERATOR, schema_digest, write_meta
from bench.reports_history import (
    AUTOMATIC_TEXTS,
    DAY,
    HOUR,
    Box,
    Start,
    clocks_for,
    dt,
    simulate,
)
from bench.reports_inboxes import AWAY_TEXT, CSAT_TEXT, seed_directory

SEED = 20261201
CUSTOMERS, CONVERSATIONS, MESSAGES = 50_000, 100_000, 1_000_000
CSAT_COMMENTS = ["Quick and friendly, thanks!", "Took too long.", "Solved my problem.", "Still not fixed.", "Great."]
# Where an agent's reply ends up on each channel, as its provider last reported it.
SENT_STATUS = {"email": "sent", "webchat": "read", "sms": "delivered", "messenger": "delivered"}


def sizes(scale: float) -> dict[str, int]:
    conversations = max(500, round(CONVERSATIONS * scale))
    return {
        "customers": max(200, round(CUSTOMERS * scale)),
        "conversations": conversations,
        "messages": max(3 * conversations, round(MESSAGES * scale)),
    }


def generate(rng: random.Random, directory: dict, sizes_: dict, now: int) -> dict:
    """Every bulk row, in memory. Message ids follow their time, as arrival order gives them."""
    started = time.perf_counter()
    customers, identities = workspace.customer_rows(rng, sizes_["customers"], dt(now))
    identities = [row + ("", None, "{}") for row in identities]
    writer = workspace.Writer(rng, directory["agents"])
    boxes: list[Box] = directory["boxes"]
    weights = [12 if b.kind == "email" else 9 if b.kind == "webchat" else 6 for b in boxes]
    counts = workspace.plan_counts(
        rng, {"conversations": sizes_["conversations"] + 1, "messages": sizes_["messages"], "long": 0}
    )
    start = Start(now)
    n_customers = sizes_["customers"]
    first_seen: dict[int, int] = {}
    extra_identities: dict[tuple[int, str], int] = {}
    next_identity = 2 * n_customers + 1
    rows = {name: [] for name in ("conversations", "labels", "changes", "clocks", "events", "surveys")}
    messages = []
    label_ids, team_ids = directory["labels"], directory["teams"]
    seq = 0
    for conv_id, n in enumerate(counts, start=1):
        box = boxes[rng.choices(range(len(boxes)), weights)[0]]
        cid = rng.randint(1, n_customers)
        customer = customers[cid - 1]
        if box.kind == "sms":
            identity = n_customers + cid
        elif box.kind == "email":
            identity = cid
        else:  # a visitor id or a page-scoped id: one per customer and kind
            identity = extra_identities.get((cid, box.kind))
            if identity is None:
                identity = extra_identities[(cid, box.kind)] = next_identity
                address = f"{box.kind}-{uuid.UUID(int=rng.getrandbits(128)).hex}"
                identities.append((identity, cid, box.kind, address, "", False, customer["row"][5], "", None, "{}"))
                next_identity += 1
        assignee = rng.choice(box.members) if rng.random() < 0.9 else None
        t0 = start(rng)
        h = simulate(rng, box, n, t0, now, assignee)
        ctx = writer.context(customer, assignee, box.members)
        subject = writer.subject(ctx) if box.kind == "email" else ""
        preview, last_at, waiting, first_in = "", h.events[0][1], None, True
        question = answer = None
        for kind, ts, data in h.events:
            if kind == "change":
                rows["changes"].append((len(rows["changes"]) + 1, conv_id, dt(ts), *data))
                continue
            what, author, rating = data
            direction, sender, status, automatic, external = "in", "customer", "received", "", None
            mail_subject = ""
            if what == "in":
                text = writer.inbound(ctx, first=first_in)
                mail_subject = subject if first_in else ""
                first_in = False
                waiting = waiting or ts
            elif what in AUTOMATIC_TEXTS:
                text, automatic = AUTOMATIC_TEXTS[what], what
            elif what == "out":
                text, direction, sender, status = writer.outbound(ctx), "out", "agent", SENT_STATUS[box.kind]
                mail_subject = f"Re: {subject}" if subject else ""
                waiting = None
            elif what == "note":
                text, direction, sender = writer.note(ctx), "note", "agent"
            elif what in ("away", "csat_q"):
                text = AWAY_TEXT if what == "away" else CSAT_TEXT
                direction, sender, status, mail_subject = "out", "system", SENT_STATUS[box.kind], subject
            else:  # csat_a: the customer's rating
                text = rng.choice(CSAT_COMMENTS) if rng.random() < 0.3 else ""
                external = f"csat-{len(rows['surveys']) + 1}"
            seq += 1
            row = [None, ts, seq, conv_id, box.id, None if direction == "note" else identity, direction, sender]
            row += [author, text, mail_subject, automatic, rating, external, status]
            messages.append(row)
            if what == "csat_q":
                question = row
            elif what == "csat_a":
                answer = row
            if direction != "note":
                preview, last_at = " ".join(text.split())[:200], ts
        status = h.status
        first_seen[cid] = min(first_seen.get(cid, t0), h.events[0][1])
        clocks = clocks_for(h, box, now)
        for c in clocks:
            clock_id = len(rows["clocks"]) + 1
            due = None
            if c.stopped is None and c.running_since is not None:
                due = dt(c.running_since + max(int(c.seconds - c.used), 0))
            rows["clocks"].append(
                (clock_id, conv_id, box.policy_id, c.target, c.seconds, box.policy[3], dt(c.started))
                + (dt(c.running_since) if c.running_since and c.stopped is None else None, c.used, due)
                + (dt(c.breached_at) if c.breached_at else None, dt(c.stopped) if c.stopped else None, c.outcome)
            )
            events = [("started", c.started, {"policy": box.policy_id, "target_seconds": c.seconds})]
            if c.breached_at is not None and c.breached_at <= now:
                events.append(("breached", c.breached_at, {}))
            if c.stopped is not None:
                events.append(("stopped", c.stopped, {"outcome": c.outcome, "answered": c.answered}))
            for kind, ts, detail in events:
                rows["events"].append((len(rows["events"]) + 1, clock_id, conv_id, kind, dt(ts), json.dumps(detail)))
        running = [c for c in clocks if c.stopped is None and c.running_since is not None]
        paused = [c for c in clocks if c.stopped is None and c.running_since is None]
        sla_due = sla_left = None
        sla_target = ""
        if running:
            soonest = min(running, key=lambda c: c.running_since + c.seconds - c.used)
            sla_due, sla_target = dt(soonest.running_since + int(soonest.seconds - soonest.used)), soonest.target
        elif paused:
            least = min(paused, key=lambda c: c.seconds - c.used)
            sla_left, sla_target = max(int(least.seconds - least.used), 0), least.target
        if h.survey is not None:
            s = h.survey
            state = "skipped" if s.get("skipped") else "answered" if "rating" in s else "asked"
            rows["surveys"].append(
                [len(rows["surveys"]) + 1, conv_id, identity, f"{rng.getrandbits(128):032x}", state]
                + ["the customer opted out" if state == "skipped" else "", dt(s["due"])]
                + [dt(s["asked"]) if "asked" in s else None, question, answer, s.get("rating")]
                + [answer[9] if answer else "", dt(s["answered"]) if "answered" in s else None, assignee]
            )
        created = dt(h.events[0][1])
        snoozed = dt(now + rng.randint(HOUR, 7 * DAY)) if status == "snoozed" else None
        team = rng.choice(team_ids) if rng.random() < 0.35 else None
        away_for = created if any(e[2][0] == "away" for e in h.events if e[0] == "msg") else None
        rows["conversations"].append(
            (conv_id, box.id, cid, identity, status, assignee, team, snoozed)
            + (dt(waiting) if waiting and status == "open" else None, subject[:300])
            + (f"{conv_id:08x}{rng.getrandbits(64):016x}", None, dt(last_at), preview, created, dt(last_at))
            + (0, away_for, sla_due, sla_left, sla_target, box.policy_id)
        )
        for label in rng.sample(label_ids, rng.choices([0, 1, 2], [55, 33, 12])[0]):
            rows["labels"].append((len(rows["labels"]) + 1, conv_id, label))
    messages.sort(key=lambda m: (m[1], m[2]))
    for message_id, row in enumerate(messages, start=1):
        row[0] = message_id
    for survey in rows["surveys"]:
        survey[8] = survey[8][0] if survey[8] else None
        survey[9] = survey[9][0] if survey[9] else None
    customer_rows = []
    for c in customers:  # nobody's first conversation comes before they were a customer
        row = list(c["row"])
        cid = row[0]
        if cid in first_seen and first_seen[cid] < row[5].timestamp():
            row[5] = row[6] = dt(first_seen[cid] - rng.randint(0, 30 * DAY))
        customer_rows.append(tuple(row))
    print(f"  generated {len(messages):,} messages in Python: {time.perf_counter() - started:.0f} s", flush=True)
    return {"customers": customer_rows, "identities": identities, "messages": messages, **rows}


# Every column of the bulk tables, in the order of the rows _rows() yields.
BULK = {
    "customers_customer": ("customers", "id name attributes notes merged_into_id created_at updated_at"),
    "customers_contactidentity": (
        "identities",
        "id customer_id kind address display verified created_at undeliverable_reason opted_out_at context",
    ),
    "conversations_conversation": (
        "conversations",
        "id inbox_id customer_id identity_id status assignee_id team_id snoozed_until waiting_since subject"
        " reply_token previous_id last_message_at last_message_preview created_at updated_at priority"
        " away_replied_for sla_due_at sla_paused_left sla_target sla_policy_id",
    ),
    "conversations_message": (
        "messages",
        "id conversation_id inbox_id identity_id direction sender_type author_id text subject automatic rating"
        " external_id status html recipients full_text status_detail source_event_id sent_at created_at updated_at",
    ),
    "conversations_conversation_labels": ("labels", "id conversation_id label_id"),
    "conversations_statuschange": ("changes", "id conversation_id at before after actor_id"),
    "conversations_slaclock": (
        "clocks",
        "id conversation_id policy_id target target_seconds business_hours started_at running_since used_seconds"
        " due_at breached_at stopped_at outcome",
    ),
    "conversations_slaevent": ("events", "id clock_id conversation_id kind at detail"),
    "conversations_csatsurvey": (
        "surveys",
        "id conversation_id identity_id token state skipped_reason due_at asked_at question_id answer_id rating"
        " comment answered_at agent_id",
    ),
}


def _rows(key: str, data: dict):
    if key != "messages":
        yield from data[key]
        return
    for message_id, ts, _seq, *rest in data["messages"]:
        at = dt(ts)
        yield (message_id, *rest, "", "{}", "", "", None, at, at, at)


def load(url: str, data: dict) -> dict[str, float]:
    """COPY every table with its secondary indexes and foreign keys dropped, then rebuild them and
    VACUUM ANALYZE (bench/workspace.py's `load_tables`); the seconds of each step."""
    tables = {table: columns for table, (_key, columns) in BULK.items()}
    return workspace.load_tables(url, tables, lambda table: _rows(BULK[table][0], data))


def seed(args, expected: dict) -> dict:
    started = time.perf_counter()
    workspace.migrate("several minutes")
    rng = random.Random(SEED)
    now = int(time.time())
    directory = seed_directory(rng)
    generated_at = time.perf_counter()
    data = generate(rng, directory, expected, now)
    generate_s = time.perf_counter() - generated_at
    timings = load(args.postgres_url, data)
    team_counts: dict[int, int] = {}
    for row in data["conversations"]:
        if row[6]:
            team_counts[row[6]] = team_counts.get(row[6], 0) + 1
    meta = {
        "admin": directory["admin"].pk,
        "team": max(team_counts, key=team_counts.get),
        "seed_seconds": f"{time.perf_counter() - started:.0f}",
        "generate_seconds": f"{generate_s:.0f}",
        "copy_seconds": f"{timings['copy']:.0f}",
        "index_seconds": f"{timings['indexes']:.0f}",
        "vacuum_seconds": f"{timings['vacuum']:.0f}",
        "seeded_ts": str(now),
        "seeded_at": dt(now).strftime("%Y-%m-%d %H:%M UTC"),
        "generator": GENERATOR,
        "schema": schema_digest(),
        "complete": "yes",
    }
    write_meta(args.postgres_url, meta)
    print(f"seeded in {meta['seed_seconds']} s", flush=True)
    return meta
