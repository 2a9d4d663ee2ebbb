import time
from importlib import import_module

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model

from conversations.selectors import visible_inbox_ids
from inbox.consumer_dispatch import DirectDispatchMixin
from inbox.realtime import agent_group, inbox_group

CLOSE_UNAUTHENTICATED = 4401


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
    every AGENT_ACCESS_RECHECK_SECONDS before an event is passed on, so a removed member, a
    deactivated account or a closed session stops receiving even if no notice reached this socket.
    Agents act over HTTP (htmx posts), so this socket only listens.
    """

    inbox_ids: set[int] = set()
    checked_at = 0.0

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.session_key = self.scope["session"].session_key
        await self.channel_layer.group_add(agent_group(user.pk), self.channel_name)
        if await self._refresh_access():
            await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "user_id"):
            await self.channel_layer.group_discard(agent_group(self.user_id), self.channel_name)
        for inbox_id in self.inbox_ids:
            await self.channel_layer.group_discard(inbox_group(inbox_id), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        pass

    async def realtime_event(self, event):
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
        if not granted:
            await self.close(code=CLOSE_UNAUTHENTICATED)
        return granted
