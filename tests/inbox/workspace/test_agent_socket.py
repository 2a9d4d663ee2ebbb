import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from conversations.ingest import message_ingest
from inbox.administration.inboxes.services import membership_add, membership_remove
from inbox.models import InboxMembership
from tests.factories import InboxFactory, MembershipFactory, UserFactory
from tests.helpers import inbound
from tests.sockets import agent_socket, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_anonymous_agent_socket_is_refused():
    communicator, connected = await agent_socket()
    assert not connected
    await communicator.disconnect()


async def test_socket_from_a_foreign_origin_is_refused_even_with_a_session():
    user = await sync_to_async(UserFactory)()
    cookie = await sync_to_async(session_cookie)(user)
    communicator, connected = await agent_socket(cookie=cookie, origin=(b"origin", b"https://evil.example"))
    assert not connected
    await communicator.disconnect()


async def test_member_receives_new_message_and_outsider_receives_nothing():
    inbox = await sync_to_async(InboxFactory)(kind="webchat")
    member = await sync_to_async(MembershipFactory)(inbox=inbox)
    outsider = await sync_to_async(MembershipFactory)()  # a member of some other inbox
    member_ws, ok1 = await agent_socket(cookie=await sync_to_async(session_cookie)(member.user))
    outsider_ws, ok2 = await agent_socket(cookie=await sync_to_async(session_cookie)(outsider.user))
    assert ok1 and ok2

    message = await sync_to_async(message_ingest)(inbox=inbox, inbound=inbound("Is anyone there?"))

    frame = await member_ws.receive_from(timeout=3)
    assert "Is anyone there?" in frame
    assert f'id="msg-{message.pk}"' in frame
    assert f"conv-row-{message.conversation_id}" in frame
    assert await outsider_ws.receive_nothing(timeout=0.5)
    await member_ws.disconnect()
    await outsider_ws.disconnect()


async def test_rolled_back_change_is_never_announced():
    from django.db import transaction

    inbox = await sync_to_async(InboxFactory)(kind="webchat")
    member = await sync_to_async(MembershipFactory)(inbox=inbox)
    ws, ok = await agent_socket(cookie=await sync_to_async(session_cookie)(member.user))
    assert ok

    def ingest_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            message_ingest(inbox=inbox, inbound=inbound("never happened"))
            raise RuntimeError("boom")

    await sync_to_async(ingest_then_fail)()
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def _member_socket():
    inbox = await sync_to_async(InboxFactory)(kind="webchat")
    member = await sync_to_async(MembershipFactory)(inbox=inbox)
    cookie = await sync_to_async(session_cookie)(member.user)
    ws, ok = await agent_socket(cookie=cookie)
    assert ok
    return inbox, member.user, ws, cookie


async def test_agent_removed_from_inbox_stops_receiving_at_once():
    inbox, user, ws, _ = await _member_socket()
    await sync_to_async(membership_remove)(inbox=inbox, user=user)
    await sync_to_async(message_ingest)(inbox=inbox, inbound=inbound("after removal"))
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_agent_added_to_inbox_starts_receiving_without_reconnecting():
    inbox = await sync_to_async(InboxFactory)(kind="webchat")
    user = await sync_to_async(UserFactory)()
    other = await sync_to_async(MembershipFactory)(user=user)  # a member of something else
    ws, ok = await agent_socket(cookie=await sync_to_async(session_cookie)(other.user))
    assert ok
    await sync_to_async(membership_add)(inbox=inbox, user=user)
    await asyncio.sleep(0.3)  # the notice is handled by the socket's own task
    await sync_to_async(message_ingest)(inbox=inbox, inbound=inbound("hello newcomer"))
    assert "hello newcomer" in await ws.receive_from(timeout=3)
    await ws.disconnect()


async def test_membership_removed_behind_our_back_is_noticed_within_the_recheck_window(settings):
    settings.AGENT_ACCESS_RECHECK_SECONDS = 0
    inbox, user, ws, _ = await _member_socket()
    await sync_to_async(InboxMembership.objects.filter(user=user).delete)()  # no notice sent
    await sync_to_async(message_ingest)(inbox=inbox, inbound=inbound("must not leak"))
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_deactivated_agent_socket_is_closed(settings):
    settings.AGENT_ACCESS_RECHECK_SECONDS = 0
    inbox, user, ws, _ = await _member_socket()
    await sync_to_async(type(user).objects.filter(pk=user.pk).update)(is_active=False)
    await sync_to_async(message_ingest)(inbox=inbox, inbound=inbound("must not leak"))
    assert (await ws.receive_output(timeout=2))["type"] == "websocket.close"


async def test_logging_out_closes_the_agents_open_socket():
    inbox, user, ws, cookie = await _member_socket()
    client = Client()
    client.cookies.load(cookie.decode())
    await sync_to_async(client.post)("/logout/")
    output = await ws.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4401}
    await sync_to_async(message_ingest)(inbox=inbox, inbound=inbound("after logout"))
    assert await ws.receive_nothing(timeout=0.3)
