import json
import logging
import time
from functools import partial

from channels.db import database_sync_to_async as _database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from conversations import selectors
from conversations.delivery import message_receipts_apply
from inbox.connectors.contract import WebhookVerificationFailed
from inbox.connectors.webchat.connector import (
    FrameError,
    Visitor,
    WidgetHello,
    origin_allowed,
    parse_client_frame,
    visitor_context,
    visitor_group,
)
from inbox.connectors.webchat.services import (
    connector,
    visitor_email_left,
    visitor_history,
    visitor_message_receive,
    visitor_survey_answer,
    widget_availability,
)
from inbox.models import Inbox
from inbox.realtime import presence, publisher
from inbox.realtime.dispatch import DirectDispatchMixin

CLOSE_UNKNOWN_INBOX = 4404
CLOSE_ORIGIN_REFUSED = 4403
CLOSE_TOO_BIG = 1009
CLOSE_FLOODING = 4429
# The widget says "typing" every 3 s while the visitor types; more often is dropped (and, like every
# frame, counted by _flooding). Agents stop seeing it TYPING_TTL_SECONDS after the last one.
TYPING_INTERVAL_SECONDS = 2.0
# The conversation a visitor types into is looked up once, then trusted this long.
TYPING_CONVERSATION_CACHE_SECONDS = 30

logger = logging.getLogger(__name__)

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
    typing_at: float = 0.0
    typing_in: int | None = None  # the conversation agents were told this visitor is typing in
    typing_lookup: tuple[float, int] | None = None
    context: dict | None = None  # the visitor's page, browser and language, from their hello

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
        await self._typing_stop()
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
        if isinstance(content, dict) and content.get("type") == "typing":
            # Ephemeral: never answered, not even with an error, and ignored before hello.
            if self.visitor is not None and isinstance(content.get("typing"), bool):
                await self._typing(content["typing"])
            return
        frame = parse_client_frame(content)
        if frame["type"] == "ping":
            await self.send_json({"type": "pong"})
        elif frame["type"] == "hello":
            await self._hello(frame)
        elif self.visitor is None:
            await self._error("hello_first", "Say hello before sending messages.", frame_id=frame.get("id"))
        elif frame["type"] == "survey":
            async with publisher.deferred():
                answer = await database_sync_to_async(visitor_survey_answer)(
                    inbox=self.inbox,
                    visitor=self.visitor,
                    token=frame["token"],
                    rating=frame["rating"],
                    comment=frame.get("comment", ""),
                )
            await self.send_json(answer)
        elif frame["type"] == "contact":
            await self.send_json(
                await database_sync_to_async(visitor_email_left)(
                    inbox=self.inbox, visitor=self.visitor, email=frame["email"]
                )
            )
        elif frame["type"] == "receipt":
            async with publisher.deferred():
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
            await self._typing_stop()
            self.typing_lookup = None
            await self.channel_layer.group_discard(visitor_group(self.inbox.pk, self.visitor.id), self.channel_name)
        self.visitor = visitor
        reported = frame.get("context") if isinstance(frame.get("context"), dict) else {}
        self.context = visitor_context({**reported, "browser": _header(self.scope, b"user-agent") or ""})
        await self.channel_layer.group_add(visitor_group(self.inbox.pk, visitor.id), self.channel_name)
        await self.send_json(
            {
                "type": "welcome",
                "visitor_token": visitor.token,
                "verified": bool(visitor.verified_email),
                "greeting": self.inbox.settings.get("greeting", ""),
                "color": self.inbox.settings.get("color", ""),
                "prechat": {
                    "fields": self.inbox.settings.get("prechat_fields", []),
                    "required": bool(self.inbox.settings.get("prechat_required")),
                },
                "history": await database_sync_to_async(visitor_history)(inbox=self.inbox, visitor=visitor),
                **await database_sync_to_async(widget_availability)(inbox=self.inbox),
            }
        )

    async def _message(self, frame: dict):
        client_ip = (self.scope.get("client") or ["unknown"])[0]
        async with publisher.deferred():
            reply = await database_sync_to_async(visitor_message_receive)(
                inbox=self.inbox,
                visitor=self.visitor,
                client_ip=client_ip,
                client_id=frame["id"],
                text=frame["text"],
                context=self.context,
            )
        # Sent: no longer typing, and the message may have started a new conversation. The next
        # message's typing starts afresh (the widget resets its own interval on send, too).
        await self._typing_stop()
        self.typing_lookup = None
        self.typing_at = 0.0
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

    async def widget_typing(self, event):
        """An agent is typing a reply to this visitor (never sent for private notes)."""
        await self.send_json({"type": "typing", "typing": bool(event["typing"]), "name": event.get("name") or ""})

    async def _typing(self, typing: bool):
        """Show agents "Customer is typing…" on the visitor's current conversation, or stop showing it."""
        if not typing:
            await self._typing_stop()
            return
        now = time.monotonic()
        if now - self.typing_at < TYPING_INTERVAL_SECONDS:
            return
        self.typing_at = now
        conversation_id = await self._typing_conversation()
        if conversation_id is None:
            return  # nothing to show it on before the first message
        if self.typing_in not in (None, conversation_id):
            await self._typing_stop()
        self.typing_in = conversation_id
        await self._customer_typing(conversation_id, True)

    async def _typing_stop(self):
        # typing_at stays: "stopped, started, stopped…" in a loop must not beat the interval.
        conversation_id, self.typing_in = self.typing_in, None
        if conversation_id is not None:
            await self._customer_typing(conversation_id, False)

    async def _typing_conversation(self) -> int | None:
        now = time.monotonic()
        if self.typing_lookup is not None and now - self.typing_lookup[0] < TYPING_CONVERSATION_CACHE_SECONDS:
            return self.typing_lookup[1]
        try:
            found = await database_sync_to_async(selectors.visitor_conversation_id)(
                inbox_id=self.inbox.pk, visitor_id=self.visitor.id
            )
        except Exception:  # noqa: BLE001 - "typing" is best effort
            logger.warning("could not find the conversation a visitor types in", exc_info=True)
            return None
        self.typing_lookup = (now, found) if found is not None else None
        return found

    async def _customer_typing(self, conversation_id: int, typing: bool):
        try:
            changed, html = await database_sync_to_async(presence.customer_typing_update)(
                conversation_id=conversation_id, typing=typing
            )
            if changed:
                group = publisher.inbox_group(self.inbox.pk)
                await self.channel_layer.group_send(group, presence.collab_event(self.inbox.pk, html))
        except Exception:  # noqa: BLE001 - "typing" is best effort; the chat itself goes on
            logger.warning("could not announce a visitor typing", exc_info=True)

    async def _error(self, code: str, message: str, frame_id=None):
        await self.send_json({"type": "error", "code": code, "message": message, "id": frame_id})
