"""Agents working side by side: presence, "is viewing", "is typing", and typing between agent and visitor."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation
from inbox.realtime import presence
from tests.factories import ConversationFactory, InboxFactory, MembershipFactory, UserFactory
from tests.sockets import agent_socket, hello, receive_json, say, session_cookie, widget_socket

pytestmark = [pytest.mark.django_db(transaction=True)]


async def _agent(inbox, **names):
    user = await sync_to_async(UserFactory)(**names)
    await sync_to_async(MembershipFactory)(inbox=inbox, user=user)
    return user


async def _open(user):
    ws, connected = await agent_socket(cookie=await sync_to_async(session_cookie)(user))
    assert connected
    return ws


async def _send(ws, frame):
    await ws.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))


async def _latest(ws, timeout=3) -> str:
    """The last of the frames that arrive now (earlier ones are what the page has since replaced)."""
    frame = await ws.receive_from(timeout=timeout)
    while not await ws.receive_nothing(timeout=0.2):
        frame = await ws.receive_from()
    return frame


async def _collab(ws, timeout=3) -> str:
    """The next collaboration fragment. A socket opened just after another agent's may still hear
    that agent come online: the pub/sub layer hands a group's message to whoever is in the group
    when it arrives, and presence is a state to converge on, not a log."""
    frame = await ws.receive_from(timeout=timeout)
    while "#presence-events" in frame:
        frame = await ws.receive_from(timeout=timeout)
    return frame


def _presence(user, online: bool) -> str:
    return f'<i data-presence-user="{user.pk}" data-online="{int(online)}"></i>'


@pytest.fixture
def team(transactional_db):
    """An inbox with a conversation in it (an email customer: no widget involved)."""
    inbox = InboxFactory(kind="fake")
    return inbox, ConversationFactory(inbox=inbox)


async def test_agents_see_each_other_view_type_and_leave(team):
    inbox, conversation = team
    alice = await _agent(inbox, first_name="Alice", last_name="Archer")
    bob = await _agent(inbox, first_name="Bob", last_name="Baker")
    bob_ws = await _open(bob)
    alice_ws = await _open(alice)
    came_online = await bob_ws.receive_from(timeout=3)
    assert 'hx-swap-oob="beforeend:#presence-events"' in came_online and _presence(alice, True) in came_online

    await _send(alice_ws, {"type": "viewing", "conversation": conversation.pk})
    seen = await bob_ws.receive_from(timeout=3)
    assert seen.startswith(f'<div id="collab-{conversation.pk}" class="collab"') and 'hx-swap-oob="true"' in seen
    assert f'<span data-user="{alice.pk}" class="viewer">Alice Archer is viewing</span>' in seen
    assert await _collab(alice_ws) == seen  # her page hides her own line

    await _send(alice_ws, {"type": "typing", "conversation": conversation.pk, "typing": True})
    typing = await bob_ws.receive_from(timeout=3)
    assert f'<span data-user="{alice.pk}" class="viewer typing">Alice Archer is typing a reply</span>' in typing
    await _send(alice_ws, {"type": "typing", "conversation": conversation.pk, "typing": True})
    assert await bob_ws.receive_nothing(timeout=0.3)  # still typing: nothing new to say

    await _send(alice_ws, {"type": "typing", "conversation": conversation.pk, "typing": True, "note": True})
    assert "Alice Archer is writing a note" in await bob_ws.receive_from(timeout=3)
    await _send(alice_ws, {"type": "typing", "conversation": conversation.pk, "typing": False})
    assert "Alice Archer is viewing" in await bob_ws.receive_from(timeout=3)

    await _send(bob_ws, {"type": "viewing", "conversation": conversation.pk})
    both = await _latest(alice_ws)
    assert both.index("Alice Archer is viewing") < both.index("Bob Baker is viewing")
    assert await bob_ws.receive_from(timeout=3) == both

    await _send(alice_ws, {"type": "viewing", "conversation": None})
    left = await bob_ws.receive_from(timeout=3)
    assert f'data-user="{alice.pk}"' not in left and "Bob Baker is viewing" in left

    await _send(alice_ws, {"type": "viewing", "conversation": conversation.pk})
    assert "Alice Archer is viewing" in await bob_ws.receive_from(timeout=3)
    await alice_ws.disconnect()
    gone = await bob_ws.receive_from(timeout=3)
    assert f'id="collab-{conversation.pk}"' in gone and f'data-user="{alice.pk}"' not in gone
    assert _presence(alice, False) in await bob_ws.receive_from(timeout=3)
    await bob_ws.disconnect()


async def test_a_viewing_heartbeat_refreshes_only_the_senders_page(team):
    inbox, conversation = team
    alice, bob = await _agent(inbox, first_name="Alice"), await _agent(inbox, first_name="Bob")
    bob_ws = await _open(bob)
    alice_ws = await _open(alice)
    await bob_ws.receive_from(timeout=3)  # Alice came online
    await _send(alice_ws, {"type": "viewing", "conversation": conversation.pk})
    await bob_ws.receive_from(timeout=3)
    first = await _collab(alice_ws)

    await _send(alice_ws, {"type": "viewing", "conversation": conversation.pk})
    assert await _collab(alice_ws) == first  # a reloaded pane gets its state back
    assert await bob_ws.receive_nothing(timeout=0.3)
    await alice_ws.disconnect()
    await bob_ws.disconnect()


async def test_agent_names_are_escaped(team):
    inbox, conversation = team
    mallory = await _agent(inbox, first_name="<b>Mallory</b>")
    ws = await _open(mallory)
    await _send(ws, {"type": "viewing", "conversation": conversation.pk})
    frame = await ws.receive_from(timeout=3)
    assert "&lt;b&gt;Mallory&lt;/b&gt; is viewing" in frame and "<b>" not in frame
    await ws.disconnect()


async def test_an_agent_of_another_inbox_neither_hears_nor_injects(team):
    inbox, conversation = team
    alice = await _agent(inbox, first_name="Alice")
    outsider = await _agent(await sync_to_async(InboxFactory)(kind="fake"), first_name="Oscar")
    alice_ws = await _open(alice)
    outsider_ws = await _open(outsider)

    await _send(alice_ws, {"type": "viewing", "conversation": conversation.pk})
    await _send(alice_ws, {"type": "typing", "conversation": conversation.pk, "typing": True})
    assert "Alice is typing a reply" in await alice_ws.receive_from(timeout=3) + await alice_ws.receive_from(timeout=3)
    assert await outsider_ws.receive_nothing(timeout=0.5)

    await _send(outsider_ws, {"type": "viewing", "conversation": conversation.pk})
    await _send(outsider_ws, {"type": "typing", "conversation": conversation.pk, "typing": True})
    assert await alice_ws.receive_nothing(timeout=0.5)
    assert await outsider_ws.receive_nothing(timeout=0.2)
    shown = await sync_to_async(presence.collab_fragment)(conversation.pk)
    assert "Alice is typing a reply" in shown and f'data-user="{outsider.pk}"' not in shown
    await alice_ws.disconnect()
    await outsider_ws.disconnect()


async def test_agent_removed_from_the_inbox_leaves_its_conversations(team):
    from inbox.administration.inboxes.services import membership_remove

    inbox, conversation = team
    alice, bob = await _agent(inbox, first_name="Alice"), await _agent(inbox, first_name="Bob")
    bob_ws = await _open(bob)
    alice_ws = await _open(alice)
    await bob_ws.receive_from(timeout=3)  # Alice came online
    await _send(alice_ws, {"type": "viewing", "conversation": conversation.pk})
    assert "Alice is viewing" in await bob_ws.receive_from(timeout=3)

    await sync_to_async(membership_remove)(inbox=inbox, user=alice)
    assert "Alice" not in await bob_ws.receive_from(timeout=3)
    await _send(alice_ws, {"type": "viewing", "conversation": conversation.pk})
    assert await bob_ws.receive_nothing(timeout=0.5)
    await alice_ws.disconnect()
    await bob_ws.disconnect()


async def test_presence_with_two_tabs(team):
    inbox, _ = team
    alice, bob = await _agent(inbox, first_name="Alice"), await _agent(inbox, first_name="Bob")
    bob_ws = await _open(bob)
    assert await bob_ws.receive_nothing(timeout=0.2)  # never told about themselves
    assert await sync_to_async(presence.online_user_ids)([alice.pk, bob.pk]) == {bob.pk}

    tab1 = await _open(alice)
    assert _presence(alice, True) in await bob_ws.receive_from(timeout=3)
    tab2 = await _open(alice)
    assert await bob_ws.receive_nothing(timeout=0.3)  # already online
    assert await sync_to_async(presence.online_user_ids)([alice.pk, bob.pk]) == {alice.pk, bob.pk}

    await _send(bob_ws, {"type": "heartbeat"})
    snapshot = await bob_ws.receive_from(timeout=3)
    assert _presence(alice, True) in snapshot and _presence(bob, True) in snapshot

    await tab1.disconnect()
    assert await bob_ws.receive_nothing(timeout=0.3)
    assert await sync_to_async(presence.online_user_ids)([alice.pk]) == {alice.pk}
    await tab2.disconnect()
    assert _presence(alice, False) in await bob_ws.receive_from(timeout=3)
    assert await sync_to_async(presence.online_user_ids)([alice.pk, bob.pk]) == {bob.pk}

    await _send(bob_ws, {"type": "heartbeat"})
    assert _presence(alice, False) in await bob_ws.receive_from(timeout=3)
    await bob_ws.disconnect()


async def test_a_crashed_process_sockets_fade_out(team, monkeypatch):
    inbox, _ = team
    alice = await _agent(inbox, first_name="Alice")
    ws = await _open(alice)
    assert await sync_to_async(presence.online_user_ids)([alice.pk]) == {alice.pk}
    later = presence._now() + presence.PRESENCE_TTL_SECONDS + 1
    monkeypatch.setattr(presence, "_now", lambda: later)  # no heartbeat since
    assert await sync_to_async(presence.online_user_ids)([alice.pk]) == set()
    await ws.disconnect()


async def test_garbage_frames_are_ignored_and_the_socket_stays_open(team):
    inbox, conversation = team
    alice = await _agent(inbox, first_name="Alice")
    ws = await _open(alice)
    for frame in [
        "not json",
        "[]",
        "null",
        '{"type": 1}',
        {"type": "dance"},
        {"type": "viewing"},
        {"type": "viewing", "conversation": str(conversation.pk)},
        {"type": "viewing", "conversation": True},
        {"type": "viewing", "conversation": 10**30},
        {"type": "viewing", "conversation": 987654},
        {"type": "typing", "conversation": conversation.pk, "typing": "yes"},
        {"type": "typing", "conversation": conversation.pk, "typing": True, "note": "no"},
        {"type": "viewing", "conversation": conversation.pk, "pad": "x" * 1000},
    ]:
        await _send(ws, frame)
    await ws.send_to(bytes_data=b"\x00\x01")
    assert await ws.receive_nothing(timeout=0.5)

    await _send(ws, {"type": "viewing", "conversation": conversation.pk})
    assert "Alice is viewing" in await ws.receive_from(timeout=3)
    await ws.disconnect()


async def test_a_flood_of_frames_is_dropped_not_answered(team):
    inbox, conversation = team
    alice = await _agent(inbox, first_name="Alice")
    ws = await _open(alice)
    for _ in range(200):
        await _send(ws, {"type": "heartbeat"})
    answers = 0
    while not await ws.receive_nothing(timeout=0.5):
        await ws.receive_from()
        answers += 1
    assert 0 < answers <= 60
    await ws.disconnect()


@pytest.fixture
def webchat(transactional_db):
    return InboxFactory(kind="webchat")


async def _visitor_with_conversation(inbox):
    visitor = await widget_socket(inbox.public_token)
    await hello(visitor, name="Ada")
    ack = await say(visitor, "Where is my order?", "c1")
    conversation = await sync_to_async(Conversation.objects.get)(messages__pk=ack["message_id"])
    return visitor, conversation


async def test_agent_typing_a_reply_shows_in_the_visitors_widget(webchat):
    alice = await _agent(webchat, first_name="Alice", last_name="Archer")
    visitor, conversation = await _visitor_with_conversation(webchat)
    ws = await _open(alice)

    await _send(ws, {"type": "viewing", "conversation": conversation.pk})
    assert await visitor.receive_nothing(timeout=0.3)  # viewing is for agents only
    await _send(ws, {"type": "typing", "conversation": conversation.pk, "typing": True})
    assert await receive_json(visitor) == {"type": "typing", "typing": True, "name": "Alice"}
    await _send(ws, {"type": "typing", "conversation": conversation.pk, "typing": False})
    assert await receive_json(visitor) == {"type": "typing", "typing": False, "name": "Alice"}

    await _send(ws, {"type": "typing", "conversation": conversation.pk, "typing": True})
    assert (await receive_json(visitor))["typing"] is True
    await ws.disconnect()  # a closed tab stops typing
    assert await receive_json(visitor) == {"type": "typing", "typing": False, "name": "Alice"}
    await visitor.disconnect()


async def test_writing_a_note_is_never_shown_to_the_visitor(webchat):
    alice = await _agent(webchat, first_name="Alice")
    bob = await _agent(webchat, first_name="Bob")
    visitor, conversation = await _visitor_with_conversation(webchat)
    bob_ws = await _open(bob)
    alice_ws = await _open(alice)
    await bob_ws.receive_from(timeout=3)  # Alice came online

    await _send(alice_ws, {"type": "typing", "conversation": conversation.pk, "typing": True, "note": True})
    assert "Alice is writing a note" in await bob_ws.receive_from(timeout=3)
    assert await visitor.receive_nothing(timeout=0.5)

    # Switching from a reply to a note takes the indicator away from the visitor at once.
    await _send(alice_ws, {"type": "typing", "conversation": conversation.pk, "typing": True})
    assert (await receive_json(visitor))["typing"] is True
    await _send(alice_ws, {"type": "typing", "conversation": conversation.pk, "typing": True, "note": True})
    assert (await receive_json(visitor))["typing"] is False
    assert await visitor.receive_nothing(timeout=0.3)
    await alice_ws.disconnect()
    await bob_ws.disconnect()
    await visitor.disconnect()


async def test_visitor_typing_shows_to_agents_of_that_inbox_only(webchat, monkeypatch):
    from inbox.connectors.webchat import consumer as widget_consumer

    monkeypatch.setattr(widget_consumer, "TYPING_INTERVAL_SECONDS", 0.2)
    alice = await _agent(webchat, first_name="Alice")
    outsider = await _agent(await sync_to_async(InboxFactory)(kind="webchat"), first_name="Oscar")
    visitor, conversation = await _visitor_with_conversation(webchat)
    alice_ws = await _open(alice)
    outsider_ws = await _open(outsider)

    await _send(visitor, {"type": "typing", "typing": True})
    frame = await alice_ws.receive_from(timeout=3)
    assert frame.startswith(f'<div id="collab-{conversation.pk}"')
    assert '<span class="customer-typing">Customer is typing…</span>' in frame
    await _send(visitor, {"type": "typing", "typing": True})
    assert await alice_ws.receive_nothing(timeout=0.3)
    await _send(visitor, {"type": "typing", "typing": False})
    assert "customer-typing" not in await alice_ws.receive_from(timeout=3)
    assert await outsider_ws.receive_nothing(timeout=0.2)

    # Sending the message ends it too.
    await asyncio.sleep(0.2)  # "typing" at most every TYPING_INTERVAL_SECONDS, stops included
    await _send(visitor, {"type": "typing", "typing": True})
    assert "customer-typing" in await alice_ws.receive_from(timeout=3)
    await say(visitor, "Order 1234", "c2")
    frames = [await alice_ws.receive_from(timeout=3)]
    while not await alice_ws.receive_nothing(timeout=0.3):
        frames.append(await alice_ws.receive_from())
    collab = [f for f in frames if f.startswith(f'<div id="collab-{conversation.pk}"')]
    assert collab and "customer-typing" not in collab[-1]
    assert await visitor.receive_nothing(timeout=0.2)  # typing frames are never answered
    await alice_ws.disconnect()
    await outsider_ws.disconnect()
    await visitor.disconnect()


async def test_visitor_typing_before_hello_or_before_any_message_is_ignored(webchat):
    alice = await _agent(webchat, first_name="Alice")
    alice_ws = await _open(alice)
    visitor = await widget_socket(webchat.public_token)
    await _send(visitor, {"type": "typing", "typing": True})
    await _send(visitor, {"type": "typing"})
    assert await visitor.receive_nothing(timeout=0.3)
    await hello(visitor)
    await _send(visitor, {"type": "typing", "typing": True})  # no conversation yet
    assert await alice_ws.receive_nothing(timeout=0.3)
    assert await visitor.receive_nothing(timeout=0.2)
    await visitor.disconnect()
    await alice_ws.disconnect()


async def test_visitor_typing_counts_towards_the_sockets_frame_limit(webchat, settings):
    settings.WIDGET_RATE_LIMIT_FRAMES_PER_SOCKET = 20
    visitor, _ = await _visitor_with_conversation(webchat)  # hello and one message: two frames
    for _ in range(30):
        await _send(visitor, {"type": "typing", "typing": True})
    error = await receive_json(visitor)
    assert error["code"] == "rate_limited"
    assert (await visitor.receive_output(timeout=2))["code"] == 4429
