import json
import time
from functools import partial

from channels.db import database_sync_to_async as _database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from conversations.services import message_receipts_apply
from inbox import realtime
from inbox.connectors.base import WebhookVerificationFailed
from inbox.connectors.webchat import (
    FrameError,
    Visitor,
    WidgetHello,
    origin_allowed,
    parse_client_frame,
    visitor_group,
)
from inbox.consumer_dispatch import DirectDispatchMixin
from inbox.models import Inbox
from inbox.widget_services import connector, visitor_history, visitor_message_receive

CLOSE_UNKNOWN_INBOX = 4404
CLOSE_ORIGIN_REFUSED = 4403
CLOSE_TOO_BIG = 1009
CLOSE_FLOODING = 4429

# Visitors' database work runs in a pool of threads, not the one thread Django's sync code shares
# by default: one slow write must not queue every other chat on the server behind it.
database_sync_to_async = partial(_database_sync_to_async, thread_sensitive=False)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


@database_sync_to_async
def _load_inbox(token: str) -> Inbox | None:
    return Inbox.objects.filter(public_token=token, kind=Inbox.Kind.WEBCHAT, is_active=True).first()


class WidgetConsumer(DirectDispatchMixin, AsyncJsonWebsocketConsumer):
    """A visitor's chat widget on some website."""

    inbox: Inbox | None = None
    visitor: Visitor | None = None
    window_started: float = 0.0
    frames_in_window: int = 0

    async def connect(self):
        self.inbox = await _load_inbox(self.scope["url_route"]["kwargs"]["token"])
        await self.accept()
        if self.inbox is None:
            await self._error("unknown_inbox", "This chat is not available.")
            await self.close(code=CLOSE_UNKNOWN_INBOX)
            return
        if not origin_allowed(self.inbox, _header(self.scope, b"origin")):
            await self._error("origin_refused", "This chat is not enabled on this website.")
            await self.close(code=CLOSE_ORIGIN_REFUSED)
            self.inbox = None  # whatever else this socket sends before it closes is ignored

    async def disconnect(self, code):
        if self.visitor is not None:
            await self.channel_layer.group_discard(visitor_group(self.inbox.pk, self.visitor.id), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if self.inbox is None:
            return
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.WIDGET_MAX_FRAME_BYTES:
            await self._error("frame_too_large", f"Frames may be at most {settings.WIDGET_MAX_FRAME_BYTES} bytes.")
            await self.close(code=CLOSE_TOO_BIG)
            return
        if self._flooding():
            await self._error("rate_limited", "Too many frames; reconnect in a moment.")
            await self.close(code=CLOSE_FLOODING)
            return
        if text_data is None:
            await self._error("bad_frame", "Frames must be JSON text.")
            return
        try:
            await super().receive(text_data=text_data, **kwargs)
        except FrameError as exc:
            await self._error("bad_frame", str(exc), frame_id=exc.frame_id)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return json.loads(text_data)
        except ValueError as exc:
            raise FrameError(f"not valid JSON: {exc}") from exc

    async def receive_json(self, content, **kwargs):
        frame = parse_client_frame(content)
        if frame["type"] == "ping":
            await self.send_json({"type": "pong"})
        elif frame["type"] == "hello":
            await self._hello(frame)
        elif self.visitor is None:
            await self._error("hello_first", "Say hello before sending messages.", frame_id=frame.get("id"))
        elif frame["type"] == "receipt":
            async with realtime.deferred():
                await database_sync_to_async(message_receipts_apply)(
                    inbox=self.inbox, visitor_id=self.visitor.id, message_ids=frame["ids"], status=frame["status"]
                )
        else:
            await self._message(frame)

    def _flooding(self) -> bool:
        """Bound every frame a socket sends (hellos and receipts too), not only stored messages."""
        now = time.monotonic()
        if now - self.window_started > settings.WIDGET_RATE_LIMIT_WINDOW_SECONDS:
            self.window_started, self.frames_in_window = now, 0
        self.frames_in_window += 1
        return self.frames_in_window > settings.WIDGET_RATE_LIMIT_FRAMES_PER_SOCKET

    async def _hello(self, frame: dict):
        identity = frame.get("identity") if isinstance(frame.get("identity"), dict) else {}
        hello = WidgetHello(
            origin=_header(self.scope, b"origin"),
            visitor_token=frame.get("visitor_token") if isinstance(frame.get("visitor_token"), str) else None,
            **{key: str(identity.get(key) or "")[:320] for key in ("email", "name", "identity_hash")},
        )
        try:
            visitor = connector.verify(inbox=self.inbox, request=hello)
        except WebhookVerificationFailed:
            await self._error("origin_refused", "This chat is not enabled on this website.")
            await self.close(code=CLOSE_ORIGIN_REFUSED)
            return
        if self.visitor is not None and self.visitor.id != visitor.id:
            await self.channel_layer.group_discard(visitor_group(self.inbox.pk, self.visitor.id), self.channel_name)
        self.visitor = visitor
        await self.channel_layer.group_add(visitor_group(self.inbox.pk, visitor.id), self.channel_name)
        await self.send_json(
            {
                "type": "welcome",
                "visitor_token": visitor.token,
                "verified": bool(visitor.verified_email),
                "greeting": self.inbox.settings.get("greeting", ""),
                "history": await database_sync_to_async(visitor_history)(inbox=self.inbox, visitor=visitor),
            }
        )

    async def _message(self, frame: dict):
        client_ip = (self.scope.get("client") or ["unknown"])[0]
        async with realtime.deferred():
            reply = await database_sync_to_async(visitor_message_receive)(
                inbox=self.inbox, visitor=self.visitor, client_ip=client_ip, client_id=frame["id"], text=frame["text"]
            )
        await self.send_json(reply)
        if reply.get("message"):
            # The visitor's other tabs show it too.
            await self.channel_layer.group_send(
                visitor_group(self.inbox.pk, self.visitor.id),
                {"type": "widget.message", "message": reply["message"], "exclude": self.channel_name},
            )

    async def widget_message(self, event):
        if event.get("exclude") != self.channel_name:
            await self.send_json({"type": "message", "message": event["message"]})

    async def _error(self, code: str, message: str, frame_id=None):
        await self.send_json({"type": "error", "code": code, "message": message, "id": frame_id})
