"""The seam through which conversations tell the layers above them what changed.

Conversations sit below the agent workspace, which renders what agents see and publishes it to their
sockets, so they may not import it (import-linter enforces this; see docs/architecture.md). Instead
the site registers listeners once at startup (``inbox/apps.py``), and the services and actions here
call the functions below.

A listener is called at once, inside the caller's transaction, and must not act there: it defers
its work to after commit (``transaction.on_commit``, as ``inbox.realtime.publisher`` does for the
workspace), so that a rolled-back change is never announced and a failing listener cannot undo the
change it hears of.

Explicit rather than Django signals: one list, one order, and a missing listener is a test failure
(``tests/test_architecture.py``), not a silence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from conversations.models import Conversation, Message, Notification


class ChangeListener(Protocol):
    def message_created(self, message: Message) -> None:
        """A message was added (inbound, a reply, a note): ``message`` has its conversation with the
        customer, inbox and assignee loaded, so announcing it needs no query."""

    def message_updated(self, message_id: int) -> None:
        """A message's delivery status or retry state changed."""

    def conversations_updated(self, conversation_ids: list[int]) -> None:
        """Conversations' assignee, team, status or labels changed."""

    def notifications_created(self, notifications: list[Notification], conversation: Conversation) -> None:
        """Agents were notified (a mention, a new message in their conversation, an assignment)."""


_listeners: list[ChangeListener] = []


def listen(listener: ChangeListener) -> None:
    """Register a listener (idempotent: Django may run ``ready()`` twice in tests)."""
    if listener not in _listeners:
        _listeners.append(listener)


def registered() -> tuple[ChangeListener, ...]:
    return tuple(_listeners)


def message_created(message: Message) -> None:
    for listener in _listeners:
        listener.message_created(message)


def message_updated(message_id: int) -> None:
    for listener in _listeners:
        listener.message_updated(message_id)


def conversations_updated(conversation_ids: list[int]) -> None:
    for listener in _listeners:
        listener.conversations_updated(conversation_ids)


def notifications_created(notifications: list[Notification], conversation: Conversation) -> None:
    for listener in _listeners:
        listener.notifications_created(notifications, conversation)
