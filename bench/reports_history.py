"""One conversation's history in the reports bench's seed: when it starts, the customer's words and
the agents' answers, its status changes and the survey (`simulate`), and the service-level clocks
that history makes (`clocks_for`). Pure Python on a seeded `random.Random`: the same seed, the same
histories. The rows they become are bench/reports_seed.py's.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

SPAN_DAYS = 395  # history: 13 months before the seed, so that a 12-month range starts inside it
MINUTE, HOUR, DAY, WEEK = 60, 3600, 86400, 7 * 86400

# Machines' mail that reaches an email inbox, by its `automatic` kind: in no report.
AUTOMATIC_TEXTS = {
    "auto_reply": "I am out of the office until Monday with limited access to email.",
    "bounce": "Delivery Status Notification (Failure): the address could not be found.",
}
# Agents' median reply time, customers' median time to write back (s), by channel; both lognormal.
REPLY_MEDIAN = {"webchat": 150, "messenger": 25 * MINUTE, "sms": 30 * MINUTE, "email": 3 * HOUR}
FOLLOW_MEDIAN = {"webchat": 120, "messenger": HOUR, "sms": 40 * MINUTE, "email": 6 * HOUR}


@dataclass
class Box:
    """An inbox as the generator needs it."""

    id: int
    kind: str
    members: list[int]
    schedule: object | None  # conversations.business_hours.Schedule
    policy_id: int | None
    policy: tuple | None
    csat: tuple | None  # (delay in minutes, share answered)
    away: bool


class Start:
    """When conversations begin: a year of growth, weekdays busier than weekends, days than nights (UTC)."""

    HOURLY = [0.15] * 7 + [0.4, 0.8] + [1.0] * 8 + [0.8, 0.6, 0.6, 0.6, 0.35, 0.35, 0.35]
    DAILY = [1.0, 1.0, 1.0, 1.0, 0.9, 0.45, 0.35]

    def __init__(self, now: int):
        self.first, self.last = now - SPAN_DAYS * DAY, now - 30 * MINUTE

    def __call__(self, rng: random.Random) -> int:
        while True:
            ts = rng.randint(self.first, self.last)
            age = (ts - self.first) / (self.last - self.first)
            weight = (0.6 + 0.4 * age) * self.DAILY[(ts // DAY + 3) % 7] * self.HOURLY[ts % DAY // HOUR]
            if rng.random() < weight:
                return ts


def lognormal(rng: random.Random, median: float, sigma: float) -> int:
    return max(1, int(median * math.exp(rng.gauss(0, sigma))))


def dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass
class History:
    """One conversation's events, in order: ("msg", ts, fields) and ("change", ts, (before, after, actor))."""

    events: list = field(default_factory=list)
    status: str = "open"
    survey: dict | None = None

    def msg(self, ts: int, what: str, author: int | None = None, rating: int | None = None) -> None:
        self.events.append(["msg", ts, (what, author, rating)])

    def change(self, ts: int, after: str, actor: int | None) -> None:
        self.events.append(["change", ts, (self.status, after, actor)])
        self.status = after


def agent_time(box: Box, ts: int, rng: random.Random) -> int:
    """An agent works in the inbox's hours: outside them, the answer waits for the next opening."""
    if box.schedule is None or box.schedule.is_open(dt(ts)):
        return ts
    opens = box.schedule.next_open(dt(ts))
    return int(opens.timestamp()) + rng.randint(60, 40 * MINUTE) if opens else ts


def simulate(rng: random.Random, box: Box, n: int, t0: int, now: int, assignee: int | None) -> History:
    """Exactly ``n`` messages: the customer writes, agents answer (now and then a note first), the
    conversation goes pending and comes back, is resolved, sometimes reopened and resolved again; an
    away reply when the inbox was closed, the survey after the last resolution."""
    old = t0 < now - 21 * DAY
    h = History()
    members = box.members

    def author() -> int:
        return assignee if assignee and rng.random() < 0.85 else rng.choice(members)

    if box.kind == "email" and n <= 2 and rng.random() < 0.25:
        # A machine's mail (an auto-reply, a bounce): in no report; an agent closes it.
        automatic = rng.choice(list(AUTOMATIC_TEXTS))
        t = t0
        for _ in range(n):
            h.msg(t, automatic)
            t += rng.randint(60, 2 * HOUR)
        if old or rng.random() < 0.5:
            h.change(agent_time(box, t + lognormal(rng, 2 * HOUR, 1.0), rng), "resolved", author())
        return h
    if old:
        final = rng.choices(["resolved", "pending", "open"], [96, 2, 2])[0]
    else:
        final = rng.choices(["resolved", "open", "pending", "snoozed"], [50, 28, 12, 10])[0]
    away = box.away and not box.schedule.is_open(dt(t0))
    csat = 0
    if box.csat and final == "resolved" and rng.random() > 0.06:  # 6% skipped (opted out, no channel)
        csat = 2 if rng.random() < box.csat[1] else 1
    while n - away - csat < 1:
        if csat:
            csat -= 1
        else:
            away = False
    budget = n - away - csat
    reopens = 0
    if final == "resolved" and budget >= 4 and rng.random() < 0.13:
        reopens = 2 if budget >= 8 and rng.random() < 0.2 else 1
    later = [max(2, round(budget * rng.uniform(0.15, 0.35))) for _ in range(reopens)]
    phases = [budget - sum(later), *later]
    t = t0
    for number, phase in enumerate(phases):
        last_phase = number == len(phases) - 1
        remaining, replied = phase, False
        while remaining > 0:
            burst = min(remaining, rng.choice((1, 1, 1, 1, 1, 1, 1, 2, 2, 3)))
            for i in range(burst):
                if i:
                    t += rng.randint(15, 240)
                if h.status != "open":  # the customer's word reopens (resolved) or wakes (pending, snoozed)
                    h.change(t, "open", None)
                h.msg(t, "in")
                if number == 0 and away and len(h.events) <= 2:
                    h.msg(t + 2, "away")
            remaining -= burst
            if remaining == 0:
                break
            reply = agent_time(box, t + lognormal(rng, REPLY_MEDIAN[box.kind], 1.1), rng)
            if remaining >= 2 and rng.random() < 0.07:
                h.msg(t + int((reply - t) * rng.uniform(0.2, 0.8)), "note", rng.choice(members))
                remaining -= 1
            writer = author()
            h.msg(reply, "out", writer)
            remaining -= 1
            replied, t = True, reply
            if remaining and rng.random() < 0.1:
                t += rng.randint(30, 300)
                h.msg(t, "out", writer)
                remaining -= 1
            if remaining:
                follow = t + lognormal(rng, FOLLOW_MEDIAN[box.kind], 1.2)
                if rng.random() < 0.12:  # waiting on the customer: their next word comes after
                    pending = t + rng.randint(5, 120)
                    h.change(pending, "pending", writer)
                    follow = max(follow, pending + rng.randint(30, 600))
                t = follow
        if not last_phase or final == "resolved":
            wait = lognormal(rng, 10 * MINUTE if box.kind == "webchat" else 4 * HOUR, 1.2)
            t = agent_time(box, t + wait, rng) if replied else t + wait
            h.change(t, "resolved", assignee or rng.choice(members))
            if not last_phase:
                t += lognormal(rng, 1.5 * DAY, 1.2)
    if final in ("pending", "snoozed") and h.events[-1][0] == "msg" and h.events[-1][2][0] == "out":
        h.change(t + rng.randint(5, 300), final, assignee or rng.choice(members))
    if csat:
        asked = t + box.csat[0] * MINUTE + rng.randint(0, 60)
        h.msg(asked, "csat_q")
        h.survey = {"due": t + box.csat[0] * MINUTE, "asked": asked}
        if csat == 2:
            rating = rng.choices((1, 2, 3, 4, 5), (6, 5, 10, 29, 50))[0]
            answered = asked + lognormal(rng, 15 * MINUTE, 1.5)
            h.msg(answered, "csat_a", rating=rating)
            h.survey.update(answered=answered, rating=rating)
    elif box.csat and final == "resolved" and h.events[-1][0] == "change":
        h.survey = {"due": t + box.csat[0] * MINUTE, "skipped": True}
    # Nothing after now: a conversation still going moves back by whole weeks (its hours stay aligned).
    last = max(e[1] for e in h.events)
    if last > now - 60:
        shift = math.ceil((last - now + 60) / WEEK) * WEEK
        for event in h.events:
            event[1] -= shift
        if h.survey:
            h.survey = {k: (v - shift if k in ("due", "asked", "answered") else v) for k, v in h.survey.items()}
    h.events.sort(key=lambda e: (e[1], e[0] != "change"))  # a status change before a message of its moment
    return h


@dataclass
class Clock:
    target: str
    seconds: int
    started: int
    running_since: int | None
    used: float = 0.0
    breached_at: int | None = None
    stopped: int | None = None
    outcome: str = ""
    answered: bool = False


def clocks_for(h: History, box: Box, now: int) -> list[Clock]:
    """The service-level clocks the history makes (conversations/sla.py's rules): a response clock from
    a customer's word to the next reply, the resolution clock from the first word to the resolution
    (resumed by a reopening); pending and snoozed pause them; the resolution stops them all."""
    if box.policy is None:
        return []
    first_s, next_s, resolution_s, business = box.policy
    schedule = box.schedule if business else None

    def elapsed(a: int, b: int) -> float:
        return schedule.seconds_open(dt(a), dt(b)) if schedule else float(max(b - a, 0))

    def crossed(c: Clock) -> int:
        left = c.seconds - c.used
        if schedule:
            at = schedule.after_open_seconds(dt(c.running_since), left)
            return int(at.timestamp()) if at else c.running_since + int(left)
        return c.running_since + int(left)

    def run_until(c: Clock, ts: int) -> None:
        if c.running_since is None:
            return
        spent = elapsed(c.running_since, ts)
        if c.breached_at is None and c.used + spent > c.seconds:
            c.breached_at = crossed(c)
        c.used += spent
        c.running_since = None

    def stop(c: Clock, ts: int, done: bool) -> None:
        run_until(c, ts)
        c.stopped, c.answered = ts, done
        c.outcome = "breached" if c.breached_at is not None else ("met" if done else "cancelled")

    clocks: list[Clock] = []
    response: Clock | None = None
    resolution: Clock | None = None
    answered_once = False
    for kind, ts, data in h.events:
        if kind == "msg":
            what = data[0]
            if what == "in":
                if response is None:
                    target = ("next_response", next_s) if answered_once else ("first_response", first_s)
                    response = Clock(*target, started=ts, running_since=ts)
                    clocks.append(response)
                if resolution is None:
                    resolution = Clock("resolution", resolution_s, started=ts, running_since=ts)
                    clocks.append(resolution)
            elif what == "out":
                if response is not None:
                    stop(response, ts, True)
                    response = None
                answered_once = True
            continue
        before, after, _actor = data
        if after == "resolved":
            for c in (response, resolution):
                if c is not None and c.stopped is None:
                    stop(c, ts, c is resolution)
            response = None
        elif before == "resolved":
            if resolution is not None:
                resolution.stopped, resolution.outcome, resolution.running_since = None, "", ts
        elif after in ("pending", "snoozed"):
            for c in (response, resolution):
                if c is not None and c.stopped is None:
                    run_until(c, ts)
        elif after == "open":
            for c in (response, resolution):
                if c is not None and c.stopped is None and c.running_since is None:
                    c.running_since = ts
    for c in clocks:  # still running now: the sweep has marked those past their deadline
        if c.stopped is None and c.running_since is not None and c.breached_at is None:
            if c.used + elapsed(c.running_since, now) > c.seconds:
                c.breached_at = crossed(c)
    return clocks
