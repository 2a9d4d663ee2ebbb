import json
import logging
import time
from functools import partial
from importlib import import_module

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model

from conversations import selectors
from conversations.selectors import visible_inbox_ids
from inbox.connectors.webchat.connector import visitor_group
from inbox.realtime import presence
from inbox.realtime.dispatch import DirectDispatchMixin
from inbox.realtime.publisher import agent_group, inbox_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# What the browser sends is small ({"type": "typing", "conversation": 12, "typing": true, "note": false});
# anything bigger, or faster than a person, is ignored (never answered by closing: it is only chatter).
MAX_FRAME_CHARS = 512
FRAMES_PER_WINDOW = 60
FRAME_WINDOW_SECONDS = 10
# The widget hides "typing" 6 s after the last notice; the browser sends "typing" every 3 s.
VISITOR_TYPING_INTERVAL_SECONDS = 2.0
MAX_KNOWN_CONVERSATIONS = 256
_FAILED = object()

# Cache and database work for presence runs in a pool of threads, not the one thread Django's sync
# code shares: a heartbeat must not queue behind anyone's write.
_in_thread = partial(database_sync_to_async, thread_sensitive=False)


@database_sync_to_async
def _current_access(user_id: int, session_key: str | None) -> set[int] | None:
    """The inboxes the agent may see now; None once they are deactivated or signed out."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    session_store = import_module(settings.SESSION_ENGINE).SessionStore
    if user is None or not session_key or not session_store().exists(session_key):
        return None
    return {row["inbox_id"] for row in visible_inbox_ids(user)}


class AgentConsumer(DirectDispatchMixin, AsyncWebsocketConsumer):
    """An agent's browser: receives the events of the inboxes the agent belongs to, nothing else.

    Access is checked at connect, again whenever it changes (``agent.access_changed``), and at least
    every AGENT_ACCESS_RECHECK_SECONDS before an event is passed on or a frame is acted on, so a
    removed member, a deactivated account or a closed session stops receiving even if no notice
    reached this socket.

    Agents act over HTTP (htmx posts). The browser only tells this socket what is ephemeral, as JSON
    frames: ``{"type": "heartbeat"}`` (presence, every 25 s; answered with the presence of the
    agent's co-members), ``{"type": "viewing", "conversation": 12 | null}`` (on opening, every 20 s,
    on leaving) and ``{"type": "typing", "conversation": 12, "typing": bool, "note": bool}``.
    See inbox/realtime/presence.py for the fragments this sends.
    """

    inbox_ids: set[int] = set()
    checked_at = 0.0
    present = False  # counted in the agent's presence (until disconnect)
    viewing: selectors.ConversationRef | None = None
    visitor_told: selectors.ConversationRef | None = None  # whose widget was told this agent is typing
    visitor_told_at = 0.0
    window_started = 0.0
    frames_in_window = 0

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.session_key = self.scope["session"].session_key
        self.full_name = user.get_full_name() or user.get_username()
        self.first_name = user.first_name or user.get_username()
        self.conversations: dict[int, selectors.ConversationRef | None] = {}
        await self.channel_layer.group_add(agent_group(user.pk), self.channel_name)
        if await self._refresh_access():
            # Counted before the socket is accepted: once the browser is told "open", it is online.
            self.present = True
            if await self._state(presence.presence_join, False, user_id=self.user_id, channel=self.channel_name):
                await self._announce_presence(online=True)
            await self.accept()

    async def disconnect(self, code):
        if self.present:
            self.present = False
            await self._leave_conversation()
            if await self._state(presence.presence_leave, False, user_id=self.user_id, channel=self.channel_name):
                await self._announce_presence(online=False)
        if hasattr(self, "user_id"):
            await self.channel_layer.group_discard(agent_group(self.user_id), self.channel_name)
        for inbox_id in self.inbox_ids:
            await self.channel_layer.group_discard(inbox_group(inbox_id), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if not self.present or text_data is None or len(text_data) > MAX_FRAME_CHARS or self._flooding():
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(frame, dict):
            return
        if time.monotonic() - self.checked_at > settings.AGENT_ACCESS_RECHECK_SECONDS:
            if not await self._refresh_access():
                return
        kind = frame.get("type")
        if kind == "heartbeat":
            await self._heartbeat()
        elif kind == "viewing":
            await self._viewing(frame.get("conversation"))
        elif kind == "typing":
            await self._typing(frame.get("conversation"), frame.get("typing"), frame.get("note", False))

    async def realtime_event(self, event):
        if event.get("exclude") == self.channel_name:
            return
        if time.monotonic() - self.checked_at > settings.AGENT_ACCESS_RECHECK_SECONDS:
            if not await self._refresh_access():
                return
        if event["inbox_id"] in self.inbox_ids:
            await self.send(text_data=event["html"])

    async def agent_access_changed(self, event):
        await self._refresh_access()

    async def _refresh_access(self) -> bool:
        """Join and leave inbox groups to match the agent's access now; close if it is gone."""
        allowed = await _current_access(self.user_id, self.session_key)
        self.checked_at = time.monotonic()
        granted = allowed is not None
        allowed = allowed or set()
        for inbox_id in allowed - self.inbox_ids:
            await self.channel_layer.group_add(inbox_group(inbox_id), self.channel_name)
        for inbox_id in self.inbox_ids - allowed:
            await self.channel_layer.group_discard(inbox_group(inbox_id), self.channel_name)
        self.inbox_ids = allowed
        if self.viewing is not None and self.viewing.inbox_id not in allowed:
            await self._leave_conversation()  # no longer theirs: they are not shown on it any more
        if not granted:
            await self.close(code=CLOSE_UNAUTHENTICATED)
        return granted

    # ---- presence, viewing, typing -------------------------------------------------------------

    def _flooding(self) -> bool:
        now = time.monotonic()
        if now - self.window_started > FRAME_WINDOW_SECONDS:
            self.window_started, self.frames_in_window = now, 0
        self.frames_in_window += 1
        return self.frames_in_window > FRAMES_PER_WINDOW

    async def _state(self, function, default, **kwargs):
        """Run a presence function in a thread; a cache outage costs presence, never the socket."""
        try:
            return await _in_thread(function)(**kwargs)
        except Exception:  # noqa: BLE001 - presence is best effort; events still flow
            logger.warning("presence update failed (%s)", function.__name__, exc_info=True)
            return default

    async def _announce_presence(self, *, online: bool):
        html = presence.presence_fragment({self.user_id: online})
        for inbox_id in sorted(self.inbox_ids):
            event = presence.collab_event(inbox_id, html, kind="presence", exclude=self.channel_name)
            await self._group_send(inbox_group(inbox_id), event)

    async def _heartbeat(self):
        if await self._state(presence.presence_join, False, user_id=self.user_id, channel=self.channel_name):
            await self._announce_presence(online=True)  # back after a silence long enough to expire
        # The answer resyncs the page: who came and went while an event was lost, or a process died.
        snapshot = await self._state(_presence_snapshot, "", inbox_ids=sorted(self.inbox_ids))
        if snapshot:
            await self.send(text_data=snapshot)

    async def _conversation(self, conversation_id) -> selectors.ConversationRef | None:
        """The conversation, if it is in one of this agent's inboxes now (looked up once per socket)."""
        if type(conversation_id) is not int or not 0 < conversation_id < 2**63:
            return None
        if conversation_id not in self.conversations:
            if len(self.conversations) >= MAX_KNOWN_CONVERSATIONS:
                self.conversations.clear()
            found = await self._state(selectors.conversation_ref, _FAILED, conversation_id=conversation_id)
            if found is _FAILED:
                return None
            self.conversations[conversation_id] = found
        ref = self.conversations[conversation_id]
        return ref if ref is not None and ref.inbox_id in self.inbox_ids else None

    async def _viewing(self, conversation_id):
        if conversation_id is None:
            await self._leave_conversation()
            return
        ref = await self._conversation(conversation_id)
        if ref is None:
            await self._lost(conversation_id)
            return
        await self._view(ref)
        changed, html = await self._state(
            presence.viewer_update,
            (False, ""),
            conversation_id=ref.id,
            channel=self.channel_name,
            user_id=self.user_id,
            name=self.full_name,
        )
        if changed:
            await self._publish(ref, html)
        elif html:
            # A heartbeat, or the same conversation opened again: this page's copy may be blank or stale.
            await self.send(text_data=html)

    async def _typing(self, conversation_id, typing, note):
        if not isinstance(typing, bool) or not isinstance(note, bool):
            return
        ref = await self._conversation(conversation_id)
        if ref is None:
            await self._lost(conversation_id)
            return
        await self._view(ref)
        changed, html = await self._state(
            presence.viewer_update,
            (False, ""),
            conversation_id=ref.id,
            channel=self.channel_name,
            user_id=self.user_id,
            name=self.full_name,
            typing=typing,
            note=note,
        )
        if changed:
            await self._publish(ref, html)
        # The customer never learns of a private note being written.
        await self._tell_visitor(ref, typing=typing and not note)

    async def _lost(self, conversation_id):
        """The agent lost access to the conversation they are on: they are no longer shown there."""
        if self.viewing is not None and self.viewing.id == conversation_id:
            await self._leave_conversation()

    async def _view(self, ref: selectors.ConversationRef):
        if self.viewing is not None and self.viewing.id != ref.id:
            await self._leave_conversation()
        self.viewing = ref

    async def _leave_conversation(self):
        ref, self.viewing = self.viewing, None
        await self._tell_visitor(ref, typing=False)
        if ref is None:
            return
        changed, html = await self._state(
            presence.viewer_leave, (False, ""), conversation_id=ref.id, channel=self.channel_name
        )
        if changed:
            await self._publish(ref, html)

    async def _publish(self, ref: selectors.ConversationRef, html: str):
        await self._group_send(inbox_group(ref.inbox_id), presence.collab_event(ref.inbox_id, html))

    async def _tell_visitor(self, ref: selectors.ConversationRef | None, *, typing: bool):
        """Show (or stop showing) "<first name> is typing…" in the website visitor's widget."""
        told = self.visitor_told
        now = time.monotonic()
        if typing and ref is not None and ref.visitor_id:
            if told is not None and told.id == ref.id and now - self.visitor_told_at < VISITOR_TYPING_INTERVAL_SECONDS:
                return
            if told is not None and told.id != ref.id:
                await self._send_visitor(told, typing=False)
            self.visitor_told, self.visitor_told_at = ref, now
            await self._send_visitor(ref, typing=True)
        elif told is not None:
            self.visitor_told = None
            await self._send_visitor(told, typing=False)

    async def _send_visitor(self, ref: selectors.ConversationRef, *, typing: bool):
        event = {"type": "widget.typing", "typing": typing, "name": self.first_name}
        await self._group_send(visitor_group(ref.inbox_id, ref.visitor_id), event)

    async def _group_send(self, group: str, event: dict):
        try:
            await self.channel_layer.group_send(group, event)
        except Exception:  # noqa: BLE001 - a lost notice is healed by the next heartbeat
            logger.warning("could not send %s to %s", event["type"], group, exc_info=True)


def _presence_snapshot(*, inbox_ids: list[int]) -> str:
    return presence.presence_snapshot(user_ids=selectors.inbox_member_ids(inbox_ids)) if inbox_ids else ""
