"""The one way out to browsers: small events to membership groups, only after commit."""

import asyncio
import contextlib
import contextvars
import logging
import os
import threading
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# Set by an async caller (a consumer) around sync work it awaits: events are collected here and the
# caller sends them from its own event loop, so the database thread does not wait on that loop.
_deferred: contextvars.ContextVar[list | None] = contextvars.ContextVar("realtime_deferred", default=None)


def inbox_group(inbox_id: int) -> str:
    return f"inbox.{inbox_id}"


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


def agents_access_changed(user_ids) -> None:
    """Tell these agents' open sockets to re-check which inboxes they may hear, after commit."""
    ids = sorted(set(user_ids))
    if ids:
        publish_on_commit(lambda: ([agent_group(i) for i in ids], {"type": "agent.access_changed"}))


def publish_on_commit(build) -> None:
    """Call ``build()`` after the current transaction commits and send what it returns.

    ``build`` returns ``(groups, event)``, a list of them, or None. Building after commit means the
    event describes committed state, and a rolled-back change is never announced.
    """
    # robust: a failed publish (say, during a Redis blip) must not cancel the callbacks registered
    # after it, such as the task that sends an agent's reply. Pages resync what they miss.
    transaction.on_commit(lambda: _send(build()), robust=True)


def _send(built: tuple[Iterable[str], dict] | list | None) -> None:
    if isinstance(built, list):
        for one in built:
            _send(one)
        return
    if not built:
        return
    groups, event = built
    # An event may name its own handler type; by default consumers get it as realtime.event.
    message = {"type": "realtime.event", **event}
    outbox = _deferred.get()
    if outbox is not None:
        outbox.extend((group, message) for group in groups)
        return
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the server's own loop, which async_to_sync finds from a view's thread.
        for group in groups:
            async_to_sync(layer.group_send)(group, message)
    else:
        _publisher.run(_send_all(layer, groups, message))


async def _send_all(layer, groups, message) -> None:
    for group in groups:
        await layer.group_send(group, message)


class _PublisherLoop:
    """One event loop per process, in a daemon thread, for publishing from sync code.

    async_to_sync outside a server's thread runs each call in a brand-new event loop, and the Redis
    layers keep their connections per loop: every message paid a new connection (about 10 ms, half
    an email's whole ingest). Here the loop, and so the connection, lives as long as the process.
    """

    def __init__(self):
        self._reset()
        # A fork while another thread holds the lock would leave the child's copy locked forever.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def run(self, coroutine, timeout: float = 10):
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked worker starts its own
                self._loop, self._pid = asyncio.new_event_loop(), os.getpid()
                threading.Thread(target=self._loop.run_forever, name="realtime-publisher", daemon=True).start()
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()  # a stale event must not arrive late, after pages have resynced
            raise


_publisher = _PublisherLoop()


@contextlib.asynccontextmanager
async def deferred():
    """Collect what sync code awaited inside this block publishes; send it on leaving the block."""
    outbox: list = []
    token = _deferred.set(outbox)
    try:
        yield
    finally:
        _deferred.reset(token)
        layer = get_channel_layer()
        for group, message in outbox:
            try:
                await layer.group_send(group, message)
            except Exception:  # noqa: BLE001 - a lost event is resynced by pages; the caller goes on
                logger.warning("could not publish %s to %s", message.get("event"), group, exc_info=True)
