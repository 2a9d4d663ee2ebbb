"""Service levels: each conversation's clocks against the targets of the policy that applies to it.

A policy sets targets for the first response, each next response and the resolution, counted in the
inbox's business hours or in calendar time. It applies where its conditions (inbox, label,
priority) hold, and of several the most specific wins: the one with the most conditions, then the
one created first.

A customer who writes and now waits starts a response clock (the first response's, or the next's);
a human agent's reply stops it. The resolution clock starts with the customer's first message and
stops on resolve. Every clock pauses while the conversation is pending or snoozed and resumes when
it opens again; resolving stops them all, so no clock runs on a resolved conversation (Chatwoot's
#10178). A clock that passes its deadline is breached once: the sweep (``sla_breaches_settle``)
records it and tells the assignee, or the team, or the inbox's agents. Every step is an
``SlaEvent``, and each clock's end goes to the reports' facts.

The conversation row carries what the list shows (``sla_due_at``, ``sla_target``,
``sla_paused_left``), kept here after every change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import listeners, notifications
from conversations.business_hours import Schedule
from conversations.models import Conversation, Notification, SlaClock, SlaEvent, SlaPolicy
from conversations.reports import facts
from inbox.models import Inbox, InboxMembership

Target = SlaClock.Target
Outcome = SlaClock.Outcome
RESPONSE_TARGETS = (Target.FIRST_RESPONSE, Target.NEXT_RESPONSE)
PAUSED_STATUSES = (Conversation.Status.PENDING, Conversation.Status.SNOOZED)


# ---- which policy ----------------------------------------------------------------------------------


def policy_for(conversation: Conversation, *, label_ids: set[int] | None = None) -> SlaPolicy | None:
    """The active policy whose conditions all hold, the most specific first (then the oldest)."""
    policies = list(SlaPolicy.objects.filter(is_active=True).order_by("created_at", "id"))
    if not policies:
        return None
    if label_ids is None and any(p.label_id for p in policies):
        label_ids = set(conversation.labels.values_list("pk", flat=True))
    matching = [
        p
        for p in policies
        if (p.inbox_id is None or p.inbox_id == conversation.inbox_id)
        and (p.priority is None or p.priority == conversation.priority)
        and (p.label_id is None or p.label_id in (label_ids or ()))
    ]
    if not matching:
        return None
    # max() keeps the first of equals: policies are in creation order.
    return max(matching, key=lambda p: (p.inbox_id is not None) + (p.label_id is not None) + (p.priority is not None))


def _target_seconds(policy: SlaPolicy, target: str) -> int | None:
    return getattr(policy, f"{target}_seconds")


# ---- counting time ---------------------------------------------------------------------------------


def _schedule(conversation: Conversation) -> Schedule | None:
    inbox = Inbox.objects.only("hours_enabled", "time_zone", "weekly_hours", "holiday_country", "custom_holidays").get(
        pk=conversation.inbox_id
    )
    return Schedule.of(inbox)


class _Clock:
    """Arithmetic on a clock, with the conversation's schedule looked up once."""

    def __init__(self, conversation: Conversation):
        self.conversation = conversation
        self._schedule: Schedule | None | bool = False

    def schedule(self, clock: SlaClock) -> Schedule | None:
        if not clock.business_hours:
            return None
        if self._schedule is False:
            self._schedule = _schedule(self.conversation)
        return self._schedule

    def elapsed(self, clock: SlaClock, start: datetime, end: datetime) -> float:
        schedule = self.schedule(clock)
        if schedule is None:
            return max((end - start).total_seconds(), 0.0)
        return schedule.seconds_open(start, end)

    def used(self, clock: SlaClock, now: datetime) -> float:
        running = self.elapsed(clock, clock.running_since, now) if clock.running_since else 0.0
        return clock.used_seconds + running

    def due(self, clock: SlaClock) -> datetime | None:
        """When a running clock reaches its target (None: never, for hours that never open)."""
        left = clock.target_seconds - clock.used_seconds
        schedule = self.schedule(clock)
        if schedule is None:
            return clock.running_since + timedelta(seconds=max(left, 0))
        return schedule.after_open_seconds(clock.running_since, left)


def _event(clock: SlaClock, kind: str, at: datetime, **detail) -> None:
    SlaEvent.objects.create(clock=clock, conversation_id=clock.conversation_id, kind=kind, at=at, detail=detail)


def _save(clock: SlaClock, *fields: str) -> None:
    SlaClock.objects.filter(pk=clock.pk).update(**{name: getattr(clock, name) for name in fields})


def _open_clocks(conversation: Conversation) -> list[SlaClock]:
    return list(SlaClock.objects.filter(conversation=conversation, stopped_at__isnull=True).order_by("id"))


def _start(arith: _Clock, policy: SlaPolicy, target: str, *, since: datetime, now: datetime) -> SlaClock | None:
    """A new clock for ``target``, counting from ``since`` (a wait that began before the policy applied
    counts from its beginning); paused from the start while the conversation is."""
    seconds = _target_seconds(policy, target)
    if seconds is None:
        return None
    clock = SlaClock(
        conversation=arith.conversation,
        policy=policy,
        target=target,
        target_seconds=seconds,
        business_hours=policy.business_hours,
        started_at=since,
        running_since=since,
    )
    if arith.conversation.status in PAUSED_STATUSES:
        clock.used_seconds, clock.running_since = arith.elapsed(clock, since, now), None
    else:
        clock.due_at = arith.due(clock)
    clock.save()
    _event(clock, SlaEvent.Kind.STARTED, since, policy=policy.pk, target_seconds=seconds)
    if clock.due_at and clock.due_at <= now:
        _breach(arith, clock)
    return clock


def _breach(arith: _Clock, clock: SlaClock) -> None:
    """Record that a running clock passed its deadline, and tell whoever holds the conversation: once,
    because only the caller that moves ``breached_at`` from empty goes on."""
    moved = SlaClock.objects.filter(pk=clock.pk, breached_at__isnull=True).update(breached_at=clock.due_at)
    if not moved:
        return
    clock.breached_at = clock.due_at
    _event(clock, SlaEvent.Kind.BREACHED, clock.due_at)
    _notify_breach(arith.conversation, clock)


def _breach_if_due(arith: _Clock, clock: SlaClock, now: datetime) -> None:
    if clock.running_since and clock.breached_at is None and clock.due_at and clock.due_at <= now:
        _breach(arith, clock)


def _pause(arith: _Clock, clock: SlaClock, now: datetime) -> None:
    _breach_if_due(arith, clock, now)
    clock.used_seconds, clock.running_since, clock.due_at = arith.used(clock, now), None, None
    _save(clock, "used_seconds", "running_since", "due_at")
    _event(clock, SlaEvent.Kind.PAUSED, now)


def _resume(arith: _Clock, clock: SlaClock, now: datetime) -> None:
    clock.running_since = now
    clock.due_at = arith.due(clock)
    _save(clock, "running_since", "due_at")
    _event(clock, SlaEvent.Kind.RESUMED, now)
    _breach_if_due(arith, clock, now)


def _stop(arith: _Clock, clock: SlaClock, now: datetime, *, done: bool) -> None:
    """Stop a clock: met (or breached) when its target was reached (``done``), else cancelled (or
    breached, if it had already passed its deadline)."""
    _breach_if_due(arith, clock, now)
    clock.used_seconds = arith.used(clock, now)
    clock.running_since, clock.due_at, clock.stopped_at = None, None, now
    if clock.breached_at is not None:
        clock.outcome = Outcome.BREACHED
    else:
        clock.outcome = Outcome.MET if done else Outcome.CANCELLED
    _save(clock, "used_seconds", "running_since", "due_at", "stopped_at", "outcome")
    _event(clock, SlaEvent.Kind.STOPPED, now, outcome=clock.outcome, answered=done)
    facts.sla_settled(clock, answered=done)


def _sync(conversation: Conversation, policy: SlaPolicy | None | bool = False) -> None:
    """Write on the conversation what its list row and header show of its clocks."""
    clocks = _open_clocks(conversation)
    running = sorted((c for c in clocks if c.running_since and c.due_at), key=lambda c: c.due_at)
    paused = sorted((c for c in clocks if not c.running_since), key=lambda c: c.target_seconds - c.used_seconds)
    fields = {"sla_due_at": None, "sla_target": "", "sla_paused_left": None}
    if running:
        fields.update(sla_due_at=running[0].due_at, sla_target=running[0].target)
    elif paused:
        left = max(int(paused[0].target_seconds - paused[0].used_seconds), 0)
        fields.update(sla_target=paused[0].target, sla_paused_left=left)
    if policy is not False:
        fields["sla_policy"] = policy
    for name, value in fields.items():
        setattr(conversation, name, value)
    Conversation.objects.filter(pk=conversation.pk).update(**fields)


# ---- what conversations tell the clocks --------------------------------------------------------------


def customer_started_waiting(conversation: Conversation, *, at: datetime) -> None:
    """A customer wrote and now waits for an answer: time it, and the resolution from their first word."""
    policy = policy_for(conversation)
    if policy is None:
        return  # no policy, no clock: nothing else is read
    arith = _Clock(conversation)
    clocks = _open_clocks(conversation)
    if not any(c.target in RESPONSE_TARGETS for c in clocks):
        target = Target.NEXT_RESPONSE if facts.first_response_given(conversation) else Target.FIRST_RESPONSE
        _start(arith, policy, target, since=at, now=at)
    if not SlaClock.objects.filter(conversation=conversation, target=Target.RESOLUTION).exists():
        _start(arith, policy, Target.RESOLUTION, since=at, now=at)
    _sync(conversation, policy)


def agent_replied(conversation: Conversation, *, at: datetime) -> SlaClock | None:
    """A human agent answered a waiting customer: the response clock stops (met, or breached). Returns
    that clock, for the reports."""
    clocks = [c for c in _open_clocks(conversation) if c.target in RESPONSE_TARGETS]
    if not clocks:
        return None
    arith = _Clock(conversation)
    for clock in clocks:
        _stop(arith, clock, at, done=True)
    _sync(conversation)
    return clocks[0]


def status_changed(conversation: Conversation, *, before: str, after: str, at: datetime) -> None:
    """Pending and snoozed pause every clock, open resumes them, resolved stops them all. Reopening a
    resolved conversation resumes its resolution clock; the customer's next word starts a response one."""
    arith = _Clock(conversation)
    if before == Conversation.Status.RESOLVED and after != Conversation.Status.RESOLVED:
        clock = SlaClock.objects.filter(conversation=conversation, target=Target.RESOLUTION).order_by("-id").first()
        if clock is not None and clock.stopped_at is not None:
            clock.stopped_at, clock.outcome = None, Outcome.NONE
            _save(clock, "stopped_at", "outcome")
            facts.sla_settled(clock)
            if after in PAUSED_STATUSES:
                _event(clock, SlaEvent.Kind.RESUMED, at, paused=True)
            else:
                _resume(arith, clock, at)
        _sync(conversation)
        return
    clocks = _open_clocks(conversation)
    if not clocks:
        return
    for clock in clocks:
        if after == Conversation.Status.RESOLVED:
            _stop(arith, clock, at, done=clock.target == Target.RESOLUTION)
        elif after in PAUSED_STATUSES and clock.running_since:
            _pause(arith, clock, at)
        elif after == Conversation.Status.OPEN and not clock.running_since:
            _resume(arith, clock, at)
    _sync(conversation)


def policy_refresh(conversation: Conversation, *, now: datetime | None = None) -> bool:
    """The conversation's inbox, labels or priority changed: the policy that applies now takes over
    its clocks (their time so far kept). A conversation that had none starts the clocks its state
    calls for, counted from when the wait began; one that no longer matches any stops its clocks.
    Returns whether anything changed."""
    now = now or timezone.now()
    policy = policy_for(conversation)
    clocks = _open_clocks(conversation)
    if (policy.pk if policy else None) == conversation.sla_policy_id and all(
        (clock.target_seconds, clock.business_hours) == (_target_seconds(policy, clock.target), policy.business_hours)
        for clock in clocks
    ):
        return False  # the same policy, with the same targets
    arith = _Clock(conversation)
    if policy is None:
        for clock in clocks:
            _stop(arith, clock, now, done=False)
        _sync(conversation, None)
        return True
    for clock in clocks:
        seconds = _target_seconds(policy, clock.target)
        if seconds is None:
            _stop(arith, clock, now, done=False)
            continue
        # The time used so far is kept, re-counted from now on by the new policy's clock.
        clock.used_seconds = arith.used(clock, now)
        clock.policy, clock.target_seconds, clock.business_hours = policy, seconds, policy.business_hours
        if clock.running_since:
            clock.running_since = now
            clock.due_at = arith.due(clock)
        _save(clock, "used_seconds", "policy", "target_seconds", "business_hours", "running_since", "due_at")
        _event(clock, SlaEvent.Kind.RETARGETED, now, policy=policy.pk, target_seconds=seconds)
        _breach_if_due(arith, clock, now)
    if conversation.status != Conversation.Status.RESOLVED:
        _start_missing(arith, policy, clocks, now)
    _sync(conversation, policy)
    return True


def _start_missing(arith: _Clock, policy: SlaPolicy, clocks: list[SlaClock], now: datetime) -> None:
    conversation = arith.conversation
    first_word = facts.first_customer_at(conversation)
    if first_word is None:
        return
    targets = {c.target for c in clocks} | set(
        SlaClock.objects.filter(conversation=conversation).values_list("target", flat=True)
    )
    if Target.RESOLUTION not in targets:
        _start(arith, policy, Target.RESOLUTION, since=first_word, now=now)
    waiting = conversation.waiting_since
    if waiting and not any(c.target in RESPONSE_TARGETS for c in clocks):
        target = Target.NEXT_RESPONSE if facts.first_response_given(conversation) else Target.FIRST_RESPONSE
        _start(arith, policy, target, since=waiting, now=now)


def policies_reapply(*, batch: int = 200) -> int:
    """After an admin changed the policies: every conversation not yet resolved takes the one that
    applies now. Returns how many were looked at."""
    done, last = 0, 0
    while True:
        conversations = list(
            Conversation.objects.filter(pk__gt=last)
            .exclude(status=Conversation.Status.RESOLVED)
            .select_related("customer")
            .order_by("pk")[:batch]
        )
        if not conversations:
            return done
        changed = []
        for conversation in conversations:
            with transaction.atomic():
                if policy_refresh(conversation):
                    changed.append(conversation.pk)
        if changed:  # only the rows whose service level shows differently are rendered again
            listeners.conversations_updated(changed)
        done, last = done + len(conversations), conversations[-1].pk


@shared_task(name="conversations.sla.policies_reapply_task")
def policies_reapply_task() -> None:
    policies_reapply()


# ---- breaches --------------------------------------------------------------------------------------


def _notify_breach(conversation: Conversation, clock: SlaClock) -> None:
    """The assignee is told; an unassigned conversation's team, or else its inbox's agents."""
    if conversation.assignee_id:
        user_ids = [conversation.assignee_id]
    else:
        members = InboxMembership.objects.filter(inbox_id=conversation.inbox_id, user__is_active=True)
        if conversation.team_id:
            members = members.filter(user__teams=conversation.team_id)
        user_ids = list(members.values_list("user_id", flat=True))
    name = conversation.customer.display_name
    notifications.notify(
        user_ids=user_ids,
        kind=Notification.Kind.SLA_BREACHED,
        conversation=conversation,
        text=_("%(target)s target breached: %(customer)s") % {"target": clock.get_target_display(), "customer": name},
    )


def sla_breaches_settle(*, now: datetime | None = None) -> list[int]:
    """Record every running clock past its deadline as breached and tell its people, once each (the
    sweep, every SLA_SWEEP_SECONDS). Returns the conversations it changed."""
    now = now or timezone.now()
    changed = []
    with transaction.atomic():
        due = list(
            SlaClock.objects.select_for_update(skip_locked=True)
            .filter(running_since__isnull=False, breached_at__isnull=True, due_at__lte=now)
            .select_related("conversation__customer")
            .order_by("due_at")[:500]
        )
        for clock in due:
            _breach(_Clock(clock.conversation), clock)
            changed.append(clock.conversation_id)
        if changed:
            listeners.conversations_updated(sorted(set(changed)))
    return changed
