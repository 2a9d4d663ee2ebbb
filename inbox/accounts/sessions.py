"""Signed-in sessions: each user's list of browsers signed in as them, and signing any of them out.

A ``SignedInSession`` row hangs on its Django session (database sessions, see settings), so signing
out, expiry and revocation all end both together. Revoking deletes the Django session: the browser's
next request is anonymous, and the agent sockets it opened are told to re-check at once (they
close when their session is gone, see inbox.workspace.consumer).
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from inbox.models import SignedInSession
from inbox.realtime.publisher import agents_access_changed

logger = logging.getLogger(__name__)

# "Last active" is this precise: one write per browser per minute, not one per request.
SEEN_EVERY_SECONDS = 60


def session_signed_in(*, request, user) -> None:
    """Record a sign-in: called from Django's user_logged_in, whichever page signed them in."""
    _record(request, user, signed_in=True)


def session_seen(*, request) -> None:
    """Record that this signed-in browser was here now, from this address and user agent (at most
    once a minute: a page costs no extra query in between)."""
    _record(request, getattr(request, "user", None), signed_in=False)


def _record(request, user, *, signed_in: bool) -> None:
    session = getattr(request, "session", None)
    if session is None or user is None or not user.is_authenticated:
        return
    if session.session_key is None:
        session.save()  # a sign-in that replaced another user's session: give it its key now, not later
    key = session.session_key
    mark = f"session-seen:{hashlib.sha256(key.encode()).hexdigest()}"
    try:
        if signed_in:
            cache.set(mark, 1, SEEN_EVERY_SECONDS)
        elif not cache.add(mark, 1, SEEN_EVERY_SECONDS):
            return
    except Exception:  # noqa: BLE001 - the cache (Redis) is down: the page must not be; record and go on
        logger.warning("the cache is unreachable; recording session activity without it")
    now = timezone.now()
    row = SignedInSession(
        session_id=key,
        user=user,
        user_agent=request.headers.get("User-Agent", "")[:500],
        ip_address=request.META.get("REMOTE_ADDR") or None,
        signed_in_at=now,
        last_seen_at=now,
    )
    changed = ["user_agent", "ip_address", "last_seen_at"] + (["signed_in_at"] if signed_in else [])
    try:
        # One statement, insert or update, and no savepoint: this runs on ordinary page views.
        SignedInSession.objects.bulk_create(
            [row], update_conflicts=True, unique_fields=["session"], update_fields=changed
        )
    except IntegrityError:
        # The session was signed out meanwhile: nothing left to record.
        try:
            cache.delete(mark)
        except Exception:  # noqa: BLE001 - the cache is down: the mark expires by itself
            pass


@dataclass(frozen=True)
class SessionRow:
    id: int
    device: str
    user_agent: str
    ip_address: str | None
    signed_in_at: datetime | None
    last_seen_at: datetime
    current: bool


def session_list(*, user, current_session_key: str | None = None) -> list[SessionRow]:
    """The user's sessions that can still act as them, the most recently active first."""
    rows = (
        SignedInSession.objects.filter(user=user, session__expire_date__gt=timezone.now())
        .order_by("-last_seen_at", "-id")
        .values_list("id", "session_id", "user_agent", "ip_address", "signed_in_at", "last_seen_at")
    )
    return [
        SessionRow(
            id=pk,
            device=device_label(agent),
            user_agent=agent,
            ip_address=ip,
            signed_in_at=since,
            last_seen_at=seen,
            current=key == current_session_key,
        )
        for pk, key, agent, ip, since, seen in rows
    ]


def device_label(user_agent: str) -> str:
    """'Firefox 128 on Windows 10', 'Mobile Safari 17 on iOS 17 (iPhone)', or 'Unknown browser'."""
    import ua_parser  # here, not at the top: its import costs every process a few tenths of a second

    parsed = ua_parser.parse(user_agent or "").with_defaults()
    if parsed.user_agent.family == "Other":
        return "Unknown browser"
    label = " ".join(filter(None, [parsed.user_agent.family, parsed.user_agent.major]))
    if parsed.os.family != "Other":
        label += " on " + " ".join(filter(None, [parsed.os.family, parsed.os.major]))
    if parsed.device.family not in ("Other", "Mac", "Spider"):
        label += f" ({parsed.device.family})"
    return label


def session_revoke(*, user, session_id: int) -> bool:
    """Sign out one of the user's sessions; False if they have no such session."""
    with transaction.atomic():
        key = SignedInSession.objects.filter(user=user, pk=session_id).values_list("session_id", flat=True).first()
        if key is None:
            return False
        _end(key)
        agents_access_changed([user.pk])
    return True


def sessions_revoke_all(*, user, except_session_key: str | None = None) -> int:
    """Sign the user out everywhere (but the session named, if any); how many sessions ended."""
    with transaction.atomic():
        sessions = SignedInSession.objects.filter(user=user, session__expire_date__gt=timezone.now())
        if except_session_key:
            sessions = sessions.exclude(session_id=except_session_key)
        keys = list(sessions.values_list("session_id", flat=True))
        for key in keys:
            _end(key)
        if keys:
            agents_access_changed([user.pk])
    return len(keys)


def _end(session_key: str) -> None:
    # Through the session engine rather than the table, so that a cached copy goes too (cached_db).
    import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key).delete()
