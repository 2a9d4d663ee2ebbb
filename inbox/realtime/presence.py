"""Agents working side by side: who is online, and who is viewing or typing in which conversation.

This state is short-lived and lives in Django's cache (LocMem on one process, Redis across several),
never in the database. Every entry carries its own expiry, refreshed by the browser's heartbeats, so
the sockets of a crashed process fade out by themselves. Entries are kept per socket, not counted:
an agent with three tabs is online until the last one closes (or stops beating).

Read-modify-write of one key is guarded by a short lock taken with ``cache.add`` (atomic on both
backends), so two processes updating the same agent or conversation do not lose each other's entry.

Fragments sent to browsers (htmx's ws extension swaps every frame as out-of-band HTML):

- presence: ``<div hx-swap-oob="beforeend:#presence-events"><i data-presence-user="7" data-online="1">
  </i></div>``. htmx appends the carriers to the page's hidden ``#presence-events``; collab.js then
  toggles the class ``online`` on every ``[data-presence-user="7"]`` and removes the carriers.
- collaboration: ``<div id="collab-12" class="collab" hx-swap-oob="true">`` with one span per agent
  viewing or typing (``data-user``, class ``viewer``, plus ``typing`` or ``note``) and, while the
  customer types, a ``span.customer-typing``. It replaces the page's ``#collab-12`` whole.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join

logger = logging.getLogger(__name__)

PRESENCE_TTL_SECONDS = 90  # the browser beats every 25 s; a background tab's timers may be slowed
VIEWER_TTL_SECONDS = 45  # the browser repeats "viewing" every 20 s
TYPING_TTL_SECONDS = 10  # "typing" comes every 3 s while keys are pressed, "not typing" after 5 s idle
LOCK_SECONDS = 2
LOCK_WAIT_SECONDS = 0.5


def _now() -> float:
    # Wall-clock time, not monotonic: expiries are compared by every server process.
    return time.time()


def _presence_key(user_id: int) -> str:
    return f"presence:user:{user_id}"


def _collab_key(conversation_id: int) -> str:
    return f"collab:conversation:{conversation_id}"


def _locked_update(key: str, change: Callable[[dict], object], timeout: float):
    """Apply ``change`` to the dict stored at ``key`` and store it back; return what it returns."""
    lock, token = f"{key}:lock", uuid.uuid4().hex
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    locked = cache.add(lock, token, LOCK_SECONDS)
    while not locked and time.monotonic() < deadline:
        time.sleep(0.005)
        locked = cache.add(lock, token, LOCK_SECONDS)
    if not locked:
        # A holder that died keeps the lock at most LOCK_SECONDS; rather than wait that long, go on:
        # the worst case is one lost entry, restored by its socket's next heartbeat.
        logger.warning("cache lock %s is busy; updating without it", key)
    try:
        state = cache.get(key) or {}
        result = change(state)
        if state:
            cache.set(key, state, timeout)
        else:
            cache.delete(key)
        return result
    finally:
        if locked and cache.get(lock) == token:
            cache.delete(lock)


# ---- presence ------------------------------------------------------------------------------------


def _live(sockets: dict, now: float) -> bool:
    return any(expires > now for expires in sockets.values())


def presence_join(*, user_id: int, channel: str) -> bool:
    """Count this socket (again) as one of the agent's open ones; True if the agent just came online."""

    def change(sockets: dict) -> bool:
        now = _now()
        was_online = _live(sockets, now)
        for name in [name for name, expires in sockets.items() if expires <= now]:
            del sockets[name]
        sockets[channel] = now + PRESENCE_TTL_SECONDS
        return not was_online

    return _locked_update(_presence_key(user_id), change, PRESENCE_TTL_SECONDS)


def presence_leave(*, user_id: int, channel: str) -> bool:
    """Forget this socket; True if it was the agent's last live one (they are offline now)."""

    def change(sockets: dict) -> bool:
        now = _now()
        was_online = _live(sockets, now)
        sockets.pop(channel, None)
        for name in [name for name, expires in sockets.items() if expires <= now]:
            del sockets[name]
        return was_online and not sockets

    return _locked_update(_presence_key(user_id), change, PRESENCE_TTL_SECONDS)


def online_user_ids(user_ids: Iterable[int]) -> set[int]:
    """The agents among these with at least one live workspace socket (one cache round trip)."""
    ids = {int(i) for i in user_ids}
    if not ids:
        return set()
    found = cache.get_many([_presence_key(i) for i in ids])
    now = _now()
    return {i for i in ids if _live(found.get(_presence_key(i)) or {}, now)}


def presence_fragment(statuses: dict[int, bool]) -> str:
    """Carriers for collab.js: it marks every ``[data-presence-user=N]`` online or not."""
    if not statuses:
        return ""
    carriers = format_html_join(
        "",
        '<i data-presence-user="{}" data-online="{}"></i>',
        ((user_id, int(online)) for user_id, online in sorted(statuses.items())),
    )
    return format_html('<div hx-swap-oob="beforeend:#presence-events">{}</div>', carriers)


def presence_snapshot(*, user_ids: Iterable[int]) -> str:
    """Presence carriers for these agents (the members of a socket's inboxes), online or not."""
    user_ids = set(user_ids)
    if not user_ids:
        return ""
    online = online_user_ids(user_ids)
    return presence_fragment({user_id: user_id in online for user_id in user_ids})


# ---- viewing and typing ---------------------------------------------------------------------------


CUSTOMER = "customer"


def _people(entries: dict, now: float) -> list[dict]:
    """Who to show, one line each: the customer first, then agents by name (several tabs make one line)."""
    people = []
    customer = entries.get(CUSTOMER)
    if customer and customer["typing_until"] > now:
        people.append({"customer": True, "state": "typing"})
    agents: dict[int, dict] = {}
    for key, entry in entries.items():
        if key == CUSTOMER or entry["expires"] <= now:
            continue
        state = "viewing"
        if entry["typing_until"] > now:
            state = "note" if entry["note"] else "typing"
        known = agents.get(entry["user"])
        rank = ("viewing", "note", "typing")
        if known is None or rank.index(state) > rank.index(known["state"]):
            agents[entry["user"]] = {"user": entry["user"], "name": entry["name"], "state": state}
    people.extend(sorted(agents.values(), key=lambda p: (p["name"].lower(), p["user"])))
    return people


def _render(conversation_id: int, people: list[dict], *, oob: bool = True) -> str:
    return render_to_string(
        "workspace/_collab.html", {"conversation_id": conversation_id, "people": people, "oob": oob}
    ).strip()


def _update_collab(conversation_id: int, change: Callable[[dict, float], None]) -> tuple[bool, str]:
    """Change a conversation's entries; return whether what agents see changed, and the fragment."""

    def apply(state: dict) -> tuple[bool, list[dict]]:
        now = _now()
        entries = state.setdefault("entries", {})
        change(entries, now)
        for key in [k for k, e in entries.items() if e["expires"] <= now]:
            del entries[key]
        people = _people(entries, now)
        # Compared with what was last announced, not with the state before this change: an entry
        # that expired silently (a crashed tab) disappears from pages at the next update.
        signature = [(p.get("user"), p.get("name"), p["state"]) for p in people]
        changed = signature != state.get("announced")
        state["announced"] = signature
        if not entries:
            state.clear()
        return changed, people

    changed, people = _locked_update(_collab_key(conversation_id), apply, VIEWER_TTL_SECONDS + 15)
    return changed, _render(conversation_id, people)


def viewer_update(
    *, conversation_id: int, channel: str, user_id: int, name: str, typing: bool | None = None, note: bool = False
) -> tuple[bool, str]:
    """Record that this socket views the conversation, and whether its agent is typing (None: as before).

    Returns whether what agents see changed (then broadcast the fragment) and the fragment.
    """

    def change(entries: dict, now: float) -> None:
        entry = entries.get(channel) or {"typing_until": 0.0, "note": False}
        entry.update(user=user_id, name=name, expires=now + VIEWER_TTL_SECONDS)
        if typing is not None:
            entry["typing_until"] = now + TYPING_TTL_SECONDS if typing else 0.0
            entry["note"] = bool(note)
        entries[channel] = entry

    return _update_collab(conversation_id, change)


def viewer_leave(*, conversation_id: int, channel: str) -> tuple[bool, str]:
    """This socket no longer views the conversation."""
    return _update_collab(conversation_id, lambda entries, now: entries.pop(channel, None))


def customer_typing_update(*, conversation_id: int, typing: bool) -> tuple[bool, str]:
    """The website visitor of this conversation started (or stopped) typing."""

    def change(entries: dict, now: float) -> None:
        if typing:
            until = now + TYPING_TTL_SECONDS
            entries[CUSTOMER] = {"typing_until": until, "expires": until}
        else:
            entries.pop(CUSTOMER, None)

    return _update_collab(conversation_id, change)


def collab_fragment(conversation_id: int, *, oob: bool = False) -> str:
    """The conversation's ``#collab-<id>`` as it is now, for a page rendered by a view."""
    state = cache.get(_collab_key(conversation_id)) or {}
    return _render(conversation_id, _people(state.get("entries", {}), _now()), oob=oob)


def collab_event(inbox_id: int, html: str, *, kind: str = "collab", exclude: str | None = None) -> dict:
    """A ``realtime.event`` for an inbox group: agent sockets pass it on only to members of that inbox."""
    event = {"type": "realtime.event", "event": kind, "inbox_id": inbox_id, "html": html}
    if exclude:
        event["exclude"] = exclude
    return event
