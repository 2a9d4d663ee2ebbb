import json

import pytest
from asgiref.sync import sync_to_async

from conversations.ingest import message_ingest
from conversations.models import Conversation, InboundEvent, Message
from conversations.replies import message_reply
from customers.models import ContactIdentity, Customer
from inbox.connectors.webchat.connector import identity_hash
from tests.factories import InboxFactory, MembershipFactory
from tests.helpers import inbound
from tests.sockets import agent_socket, hello, receive_json, say, session_cookie, widget_socket

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def inbox_and_agent(transactional_db):
    inbox = InboxFactory(kind="webchat", settings={"greeting": "Hi!"})
    membership = MembershipFactory(inbox=inbox)
    return inbox, membership.user


async def test_visitor_message_reaches_agent_and_agent_reply_reaches_visitor(inbox_and_agent):
    inbox, agent = inbox_and_agent
    agent_ws, ok = await agent_socket(cookie=await sync_to_async(session_cookie)(agent))
    assert ok
    visitor = await widget_socket(inbox.public_token)
    welcome = await hello(visitor, name="Ada")
    assert welcome["type"] == "welcome" and welcome["greeting"] == "Hi!" and welcome["history"] == []

    ack = await say(visitor, "My parcel is late", "c1")
    assert ack["type"] == "ack" and ack["id"] == "c1" and ack["message_id"]

    frame = await agent_ws.receive_from(timeout=3)
    assert "My parcel is late" in frame
    message = await sync_to_async(Message.objects.select_related("conversation__customer").get)(pk=ack["message_id"])
    assert message.conversation.customer.name == "Ada"

    await sync_to_async(message_reply)(conversation=message.conversation, author=agent, text="Checking now")
    pushed = await receive_json(visitor)
    assert pushed["type"] == "message"
    assert pushed["message"]["text"] == "Checking now"
    assert pushed["message"]["sender"] == "agent"
    reply = await sync_to_async(Message.objects.get)(direction="out")
    assert reply.status == Message.Status.SENT
    await visitor.disconnect()
    await agent_ws.disconnect()


async def test_visitor_keeps_identity_and_history_across_page_loads(inbox_and_agent):
    inbox, _ = inbox_and_agent
    first = await widget_socket(inbox.public_token)
    token = (await hello(first))["visitor_token"]
    await say(first, "first visit", "a1")
    await first.disconnect()

    second = await widget_socket(inbox.public_token)
    welcome = await hello(second, visitor_token=token)
    assert [m["text"] for m in welcome["history"]] == ["first visit"]
    await say(second, "second visit", "a2")
    await second.disconnect()
    assert await sync_to_async(Conversation.objects.count)() == 1
    assert await sync_to_async(Customer.objects.count)() == 1


async def test_forged_visitor_token_gets_a_fresh_visitor_not_someone_elses(inbox_and_agent):
    inbox, _ = inbox_and_agent
    owner = await widget_socket(inbox.public_token)
    token = (await hello(owner))["visitor_token"]
    await say(owner, "private", "p1")
    await owner.disconnect()

    intruder = await widget_socket(inbox.public_token)
    welcome = await hello(intruder, visitor_token=token[:-2] + "xx")
    assert welcome["history"] == []
    assert welcome["visitor_token"] != token
    await intruder.disconnect()


async def test_resent_frame_after_reconnect_is_one_message(inbox_and_agent):
    inbox, _ = inbox_and_agent
    ws = await widget_socket(inbox.public_token)
    token = (await hello(ws))["visitor_token"]
    first = await say(ws, "hello?", "same-id")
    await ws.disconnect()
    ws = await widget_socket(inbox.public_token)
    await hello(ws, visitor_token=token)
    again = await say(ws, "hello?", "same-id")
    assert first["message_id"] == again["message_id"]
    assert await sync_to_async(Message.objects.count)() == 1
    await ws.disconnect()


async def test_verified_identity_links_to_existing_customer_and_shows_their_chat(inbox_and_agent):
    inbox, _ = inbox_and_agent
    earlier = await sync_to_async(message_ingest)(inbox=inbox, inbound=inbound("old chat", address="old-visitor"))
    customer = await sync_to_async(Customer.objects.get)(conversations__messages=earlier)
    await sync_to_async(ContactIdentity.objects.create)(
        customer=customer, kind="email", address="ada@example.com", verified=True
    )

    ws = await widget_socket(inbox.public_token)
    welcome = await hello(
        ws, email="Ada@Example.com", name="Ada", identity_hash=identity_hash(inbox.secret, "ada@example.com")
    )
    assert welcome["verified"] is True
    assert [m["text"] for m in welcome["history"]] == ["old chat"]
    ack = await say(ws, "it's me again", "v1")
    message = await sync_to_async(Message.objects.select_related("conversation").get)(pk=ack["message_id"])
    assert message.conversation.customer_id == customer.pk
    await ws.disconnect()


async def test_wrong_identity_hash_does_not_attach_to_existing_customer(inbox_and_agent):
    inbox, _ = inbox_and_agent
    earlier = await sync_to_async(message_ingest)(
        inbox=inbox, inbound=inbound("secret order details", kind="email", address="ada@example.com")
    )

    ws = await widget_socket(inbox.public_token)
    welcome = await hello(ws, email="ada@example.com", identity_hash="0" * 64)
    assert welcome["verified"] is False
    assert welcome["history"] == []
    ack = await say(ws, "I am Ada, show me my orders", "w1")
    message = await sync_to_async(Message.objects.select_related("conversation__customer").get)(pk=ack["message_id"])
    known = await sync_to_async(Customer.objects.get)(conversations__messages=earlier)
    stranger = message.conversation.customer
    assert stranger.pk != known.pk
    assert stranger.attributes["unverified_email"] == "ada@example.com"
    assert stranger.attributes["possible_match_customer_id"] == known.pk
    await ws.disconnect()


async def test_token_of_a_verified_user_is_not_reused_by_the_next_person_on_that_browser(inbox_and_agent):
    inbox, _ = inbox_and_agent
    ws = await widget_socket(inbox.public_token)
    ada = await hello(ws, email="ada@example.com", identity_hash=identity_hash(inbox.secret, "ada@example.com"))
    await say(ws, "Ada's private question", "x1")
    await ws.disconnect()

    ws = await widget_socket(inbox.public_token)
    anonymous = await hello(ws, visitor_token=ada["visitor_token"])  # logged out, same localStorage
    assert anonymous["history"] == []
    assert anonymous["visitor_token"] != ada["visitor_token"]
    await ws.disconnect()


async def test_unknown_inbox_token_gets_error_and_close():
    ws = await widget_socket("no-such-token")
    error = await receive_json(ws)
    assert error["code"] == "unknown_inbox"
    assert (await ws.receive_output(timeout=1))["code"] == 4404


async def test_origin_not_listed_by_the_inbox_is_refused(transactional_db):
    inbox = await sync_to_async(InboxFactory)(kind="webchat", settings={"allowed_origins": ["https://shop.example"]})
    ws = await widget_socket(inbox.public_token, origin=b"https://elsewhere.example")
    assert (await receive_json(ws))["code"] == "origin_refused"
    assert (await ws.receive_output(timeout=1))["code"] == 4403
    ok = await widget_socket(inbox.public_token, origin=b"https://shop.example")
    assert (await hello(ok))["type"] == "welcome"
    await ok.disconnect()


async def test_malformed_frames_get_error_and_connection_keeps_serving(inbox_and_agent):
    inbox, _ = inbox_and_agent
    ws = await widget_socket(inbox.public_token)
    await ws.send_to(text_data="{not json")
    assert (await receive_json(ws))["code"] == "bad_frame"
    await ws.send_to(text_data=json.dumps({"type": "message", "id": "m", "text": "before hello"}))
    assert (await receive_json(ws))["code"] == "hello_first"
    await hello(ws)
    await ws.send_to(text_data=json.dumps({"type": "message", "id": "m", "text": "   "}))
    refused = await receive_json(ws)
    assert refused["code"] == "bad_frame" and refused["id"] == "m"  # the widget knows which one failed
    await ws.send_to(text_data=json.dumps(["not", "an", "object"]))
    assert (await receive_json(ws))["code"] == "bad_frame"
    assert (await say(ws, "now a real one", "r1"))["type"] == "ack"
    assert await sync_to_async(Message.objects.count)() == 1
    assert await sync_to_async(InboundEvent.objects.count)() == 1
    await ws.disconnect()


async def test_oversized_frame_is_refused_with_1009_and_nothing_stored(inbox_and_agent, settings):
    inbox, _ = inbox_and_agent
    ws = await widget_socket(inbox.public_token)
    await hello(ws)
    await ws.send_to(text_data=json.dumps({"type": "message", "id": "big", "text": "x" * (64 * 1024)}))
    assert (await receive_json(ws))["code"] == "frame_too_large"
    assert (await ws.receive_output(timeout=1))["code"] == 1009
    assert await sync_to_async(InboundEvent.objects.count)() == 0
    # Everyone else is still served.
    other = await widget_socket(inbox.public_token)
    await hello(other)
    assert (await say(other, "small", "s1"))["type"] == "ack"
    await other.disconnect()


async def test_flooding_visitor_is_rate_limited_and_nothing_extra_is_stored(inbox_and_agent, settings):
    settings.WIDGET_RATE_LIMIT_PER_VISITOR = 3
    # Counters are per fixed window: a day-long one cannot roll over mid-test (a 10 s one did, under load).
    settings.WIDGET_RATE_LIMIT_WINDOW_SECONDS = 86_400
    inbox, _ = inbox_and_agent
    ws = await widget_socket(inbox.public_token)
    await hello(ws)
    replies = [await say(ws, f"spam {i}", f"f{i}") for i in range(5)]
    assert [r["type"] for r in replies] == ["ack", "ack", "ack", "error", "error"]
    assert replies[3]["code"] == "rate_limited"
    assert await sync_to_async(Message.objects.count)() == 3
    # Another visitor from elsewhere is unaffected.
    other = await widget_socket(inbox.public_token, client=("198.51.100.1", 1))
    await hello(other)
    assert (await say(other, "hello", "o1"))["type"] == "ack"
    await ws.disconnect()
    await other.disconnect()


async def test_flood_from_one_ip_across_visitors_is_rate_limited(inbox_and_agent, settings):
    settings.WIDGET_RATE_LIMIT_PER_IP = 4
    # Counters are per fixed window: a day-long one cannot roll over mid-test (a 10 s one did, under load).
    settings.WIDGET_RATE_LIMIT_WINDOW_SECONDS = 86_400
    inbox, _ = inbox_and_agent
    results = []
    for i in range(6):
        ws = await widget_socket(inbox.public_token)
        await hello(ws)
        results.append((await say(ws, "hi", f"ip{i}"))["type"])
        await ws.disconnect()
    assert results == ["ack"] * 4 + ["error"] * 2


async def receipt(ws, status, ids):
    await ws.send_to(text_data=json.dumps({"type": "receipt", "status": status, "ids": ids}))


async def test_widget_receipts_mark_agent_reply_delivered_then_read_live_for_the_agent(inbox_and_agent):
    inbox, agent = inbox_and_agent
    ws = await widget_socket(inbox.public_token)
    await hello(ws)
    ack = await say(ws, "hi", "r1")
    conversation = await sync_to_async(Conversation.objects.get)(messages__pk=ack["message_id"])
    agent_ws, _ = await agent_socket(cookie=await sync_to_async(session_cookie)(agent))
    reply = await sync_to_async(message_reply)(conversation=conversation, author=agent, text="Hello!")
    pushed = await receive_json(ws)
    assert pushed["message"]["id"] == reply.pk
    while "Sent" not in await agent_ws.receive_from(timeout=3):
        pass  # created (Queued), then Sent

    await receipt(ws, "delivered", [reply.pk])
    assert ">Delivered<" in await agent_ws.receive_from(timeout=3)
    await receipt(ws, "read", [reply.pk])
    assert ">Read<" in await agent_ws.receive_from(timeout=3)
    await receipt(ws, "delivered", [reply.pk])  # late and out of order: ignored
    assert await agent_ws.receive_nothing(timeout=0.3)
    assert (await sync_to_async(Message.objects.get)(pk=reply.pk)).status == "read"
    await ws.disconnect()
    await agent_ws.disconnect()


async def test_receipts_for_someone_elses_messages_change_nothing(inbox_and_agent):
    inbox, agent = inbox_and_agent
    alice = await widget_socket(inbox.public_token)
    await hello(alice)
    ack = await say(alice, "hi", "a1")
    conversation = await sync_to_async(Conversation.objects.get)(messages__pk=ack["message_id"])
    reply = await sync_to_async(message_reply)(conversation=conversation, author=agent, text="for Alice only")

    mallory = await widget_socket(inbox.public_token)
    await hello(mallory)
    await receipt(mallory, "read", [reply.pk])
    await mallory.send_to(text_data=json.dumps({"type": "ping"}))
    assert (await receive_json(mallory))["type"] == "pong"  # the receipt was handled before this
    assert (await sync_to_async(Message.objects.get)(pk=reply.pk)).status == "sent"
    await alice.disconnect()
    await mallory.disconnect()


async def test_socket_flooding_any_frames_is_closed_while_others_are_served(inbox_and_agent, settings):
    settings.WIDGET_RATE_LIMIT_FRAMES_PER_SOCKET = 10
    inbox, _ = inbox_and_agent
    ws = await widget_socket(inbox.public_token)
    for _ in range(10):
        await ws.send_to(text_data=json.dumps({"type": "ping"}))
        assert (await receive_json(ws))["type"] == "pong"
    await ws.send_to(text_data=json.dumps({"type": "hello"}))
    assert (await receive_json(ws))["code"] == "rate_limited"
    assert (await ws.receive_output(timeout=1))["code"] == 4429
    other = await widget_socket(inbox.public_token)
    assert (await hello(other))["type"] == "welcome"
    await other.disconnect()


async def test_visitor_token_from_another_inbox_is_not_honoured(inbox_and_agent):
    inbox, _ = inbox_and_agent
    other = await sync_to_async(InboxFactory)(kind="webchat")
    ws = await widget_socket(other.public_token)
    foreign = (await hello(ws))["visitor_token"]
    await say(ws, "said elsewhere", "e1")
    await ws.disconnect()

    ws = await widget_socket(inbox.public_token)
    welcome = await hello(ws, visitor_token=foreign)
    assert welcome["history"] == [] and welcome["visitor_token"] != foreign
    await ws.disconnect()
