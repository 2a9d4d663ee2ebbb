"""Facebook Messenger: Meta's handshake and signed batches in, the Send API out to a local stand-in."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, InboundEvent, Message
from conversations.replies import message_reply
from inbox.connectors.messenger.connector import signature_of
from inbox.models import Inbox
from tests.factories import InboxFactory, MembershipFactory

pytestmark = pytest.mark.django_db

APP_SECRET = "meta-app-secret"
PAGE_ID = "104857600000000"
PSID = "6789012345678901"


@pytest.fixture
def page_inbox(graph, agent):
    inbox = InboxFactory(
        kind="messenger",
        name="Facebook page",
        settings={"page_id": PAGE_ID},
        credentials={"app_secret": APP_SECRET, "page_access_token": graph.page_token, "verify_token": "verify-me"},
    )
    MembershipFactory(inbox=inbox, user=agent)
    return inbox


def now_ms(delta=timedelta()):
    return int((time.time() + delta.total_seconds()) * 1000)


def batch(*entries):
    # The shape Meta posts (https://developers.facebook.com/docs/messenger-platform/webhooks).
    return {"object": "page", "entry": list(entries)}


def entry(*messaging):
    return {"id": PAGE_ID, "time": now_ms(), "messaging": list(messaging)}


def text_item(mid, text, *, psid=PSID, at=None, **message):
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": at or now_ms(),
        "message": {"mid": mid, "text": text, **message},
    }


@pytest.fixture
def post_meta(client, page_inbox, django_capture_on_commit_callbacks):
    def post(payload, *, secret=APP_SECRET, signature=None):
        body = json.dumps(payload).encode()
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/hooks/messenger/{page_inbox.public_token}/",
                data=body,
                content_type="application/json",
                headers={"X-Hub-Signature-256": signature if signature is not None else signature_of(secret, body)},
            )

    return post


def test_the_subscription_handshake_answers_only_our_verify_token(client, page_inbox):
    url = f"/hooks/messenger/{page_inbox.public_token}/"
    ok = client.get(url, {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.content == b"1158201444"
    wrong = client.get(url, {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    assert wrong.status_code == 403


def test_every_item_of_every_entry_is_read_and_the_name_fetched_once(post_meta, graph):
    # An image on Meta's CDN is fetched and stored; a link elsewhere is kept as a link, never fetched.
    image = {"type": "image", "payload": {"url": graph.add_media("photo.jpg", "image/jpeg", b"\xff\xd8 jpeg")}}
    elsewhere = {"type": "file", "payload": {"url": "http://10.0.0.1/internal.pdf"}}
    location = {"type": "location", "payload": {"coordinates": {"lat": 52.52, "long": 13.405}}}
    payload = batch(
        entry(text_item("m_1", "Hi! Do you have the blue one?"), text_item("m_2", "", attachments=[image, elsewhere])),
        entry(
            text_item("m_3", "Size M", quick_reply={"payload": "SIZE_M"}),
            {
                "sender": {"id": PSID},
                "recipient": {"id": PAGE_ID},
                "timestamp": now_ms(),
                "postback": {"mid": "m_4", "title": "Talk to a person", "payload": "HUMAN"},
            },
            text_item("m_5", "", attachments=[location]),
        ),
    )
    assert post_meta(payload).status_code == 200
    texts = list(Message.objects.order_by("id").values_list("text", flat=True))
    assert texts == [
        "Hi! Do you have the blue one?",
        "[File] http://10.0.0.1/internal.pdf",
        "Size M",
        "Talk to a person",
        "[Location] 52.52, 13.405",
    ]
    photo = Message.objects.get(external_id="m_2").attachments.get()
    assert (photo.filename, photo.content_type, photo.file.read()) == ("photo.jpg", "image/jpeg", b"\xff\xd8 jpeg")
    assert Conversation.objects.get().customer.name == "Hedy Lamarr"
    assert graph.profile_requests == [PSID]  # fetched once, for the new customer only


def test_a_wrong_signature_is_refused_and_a_replayed_batch_is_one_set_of_messages(post_meta):
    payload = batch(entry(text_item("m_1", "hello")))
    assert post_meta(payload, secret="not-the-app-secret").status_code == 403
    assert post_meta(payload, signature="").status_code == 403
    assert not InboundEvent.objects.exists()
    post_meta(payload)
    post_meta(payload)  # Meta retries the same batch
    post_meta(batch(entry(text_item("m_1", "hello"), text_item("m_2", "again"))))  # and re-sends a mid
    assert list(Message.objects.order_by("id").values_list("text", flat=True)) == ["hello", "again"]


def test_reply_goes_out_as_the_send_api_documents_and_echoes_and_watermarks_come_back(
    post_meta, graph, agent, django_capture_on_commit_callbacks
):
    post_meta(batch(entry(text_item("m_1", "Is it in stock?"))))
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=conversation, author=agent, text="Yes, two left!")
    assert graph.requests == [
        {
            "recipient": {"id": PSID},
            "message": {"text": "Yes, two left!", "metadata": f"inbox-message:{reply.pk}"},
            "messaging_type": "RESPONSE",
        }
    ]
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT and reply.external_id.startswith("m_")

    # The echo of our own send, and a reply typed in the page's own inbox on Facebook.
    echo = {"sender": {"id": PAGE_ID}, "recipient": {"id": PSID}, "timestamp": now_ms()}
    ours = {**echo, "message": {"mid": reply.external_id, "is_echo": True, "app_id": 1, "text": "Yes, two left!"}}
    ours["message"]["metadata"] = f"inbox-message:{reply.pk}"
    typed = {**echo, "message": {"mid": "m_page", "is_echo": True, "text": "(from the Facebook inbox)"}}
    post_meta(batch(entry(ours, typed)))
    assert Message.objects.filter(text="Yes, two left!").count() == 1
    from_page = Message.objects.get(external_id="m_page")
    assert (from_page.direction, from_page.sender_type, from_page.conversation_id) == ("out", "agent", conversation.pk)

    # Watermarks: everything sent up to them is delivered, then read.
    delivered = {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms()}
    post_meta(batch(entry({**delivered, "delivery": {"watermark": now_ms(timedelta(seconds=1))}})))
    reply.refresh_from_db()
    assert reply.status == Message.Status.DELIVERED
    post_meta(batch(entry({**delivered, "read": {"watermark": now_ms(timedelta(seconds=1))}})))
    reply.refresh_from_db()
    assert reply.status == Message.Status.READ


def test_after_24_hours_a_reply_is_refused_with_the_reason_unless_the_human_agent_tag_is_on(
    post_meta, graph, page_inbox, agent, agent_client, django_capture_on_commit_callbacks
):
    post_meta(batch(entry(text_item("m_1", "Hello?", at=now_ms(-timedelta(hours=25))))))
    conversation = Conversation.objects.get()
    page = agent_client.get(f"/conversations/{conversation.pk}/").content.decode()
    assert "Messenger allows replies only within 24 hours of their last message" in page  # said before writing
    with django_capture_on_commit_callbacks(execute=True):
        late = message_reply(conversation=conversation, author=agent, text="Sorry for the wait")
    late.refresh_from_db()
    assert late.status == Message.Status.FAILED and "within 24 hours" in late.status_detail
    assert graph.requests == []

    page_inbox.settings["human_agent_tag"] = True
    page_inbox.save()
    with django_capture_on_commit_callbacks(execute=True):
        tagged = message_reply(conversation=conversation, author=agent, text="Sorry for the wait")
    tagged.refresh_from_db()
    assert tagged.status == Message.Status.SENT
    assert graph.requests[-1]["messaging_type"] == "MESSAGE_TAG" and graph.requests[-1]["tag"] == "HUMAN_AGENT"


def test_a_revoked_page_token_marks_the_inbox_for_reconnection(
    post_meta, graph, page_inbox, agent, django_capture_on_commit_callbacks
):
    post_meta(batch(entry(text_item("m_1", "Hi"))))
    graph.revoked = True
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=Conversation.objects.get(), author=agent, text="Hello")
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED and "190" in reply.status_detail
    assert "session has been invalidated" in Inbox.objects.get(pk=page_inbox.pk).needs_reconnection


def test_rate_limits_say_a_retry_can_help(graph, page_inbox):
    from inbox.connectors.contract import IdentityClaim, OutboundMessage, SendError
    from inbox.connectors.messenger.connector import MessengerConnector

    outbound = OutboundMessage(
        message_id=1,
        conversation_id=1,
        inbox=page_inbox,
        to=IdentityClaim(kind="messenger", address=PSID),
        text="hello",
        html="",
        author_name="",
        sent_at=timezone.now(),
        last_inbound_at=timezone.now(),
    )
    graph.rate_limited = 1
    with pytest.raises(SendError) as limited:
        MessengerConnector().send(outbound)
    assert limited.value.retryable is True and "613" in limited.value.detail
    assert MessengerConnector().send(outbound).startswith("m_")


@pytest.mark.django_db(transaction=True)
def test_a_batch_retried_concurrently_and_a_mid_in_two_batches_yield_one_message(page_inbox, graph):
    import functools

    from django.test import Client

    from tests.helpers import run_concurrently

    first = json.dumps(batch(entry(text_item("m_burst", "only once")))).encode()
    second = json.dumps(batch(entry(text_item("m_burst", "only once"), text_item("m_other", "and this")))).encode()

    def post(body):
        Client().post(
            f"/hooks/messenger/{page_inbox.public_token}/",
            data=body,
            content_type="application/json",
            headers={"X-Hub-Signature-256": signature_of(APP_SECRET, body)},
        )

    run_concurrently(*[functools.partial(post, first)] * 4, *[functools.partial(post, second)] * 4)
    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["m_burst", "m_other"]
    assert InboundEvent.objects.count() == 2 and Conversation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
async def test_end_to_end_the_agent_sees_the_message_and_the_read_watermark_live(post_meta, graph, agent):
    from asgiref.sync import sync_to_async

    from tests.sockets import agent_socket, receive_until, session_cookie

    ws, connected = await agent_socket(cookie=await sync_to_async(session_cookie)(agent))
    assert connected
    await sync_to_async(post_meta)(batch(entry(text_item("m_live", "Is the blue one back?"))))
    assert "Is the blue one back?" in await ws.receive_from(timeout=5)

    conversation = await sync_to_async(Conversation.objects.get)()
    reply = await sync_to_async(message_reply)(conversation=conversation, author=agent, text="Yes, since Monday")
    assert "Yes, since Monday" in await ws.receive_from(timeout=5)
    # Replying also assigns the conversation to the agent: that event comes first.
    assert await receive_until(ws, 'class="delivery delivery-sent"')
    assert graph.requests[-1]["message"]["text"] == "Yes, since Monday"

    read = {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms()}
    await sync_to_async(post_meta)(batch(entry({**read, "read": {"watermark": now_ms(timedelta(seconds=1))}})))
    frame = await ws.receive_from(timeout=5)
    assert f'id="msg-{reply.pk}"' in frame and "Read" in frame
    await ws.disconnect()


def test_entries_of_another_page_of_the_same_app_are_not_ours(post_meta, page_inbox):
    other_page = {"id": "999999999", "time": now_ms(), "messaging": [text_item("m_b", "for page B")]}
    post_meta(batch(entry(text_item("m_a", "for page A")), other_page))
    assert list(Message.objects.values_list("text", flat=True)) == ["for page A"]


def test_a_reply_typed_in_facebook_after_resolving_does_not_reopen(post_meta, page_inbox):
    page_inbox.on_resolved_reply = "new"
    page_inbox.save()
    post_meta(batch(entry(text_item("m_1", "thanks!"))))
    Conversation.objects.update(status=Conversation.Status.RESOLVED)
    typed = {
        "sender": {"id": PAGE_ID},
        "recipient": {"id": PSID},
        "timestamp": now_ms(),
        "message": {"mid": "m_typed", "is_echo": True, "text": "Closing this, bye!"},
    }
    post_meta(batch(entry(typed)))
    conversation = Conversation.objects.get()
    assert conversation.status == Conversation.Status.RESOLVED and conversation.messages.count() == 2


def test_a_postback_carries_no_attachment_of_its_own_wherever_it_stands_in_the_batch(post_meta, graph):
    image = {"type": "image", "payload": {"url": graph.add_media("shoe.jpg", "image/jpeg", b"\xff\xd8 shoe")}}
    postback = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": now_ms(),
        "postback": {"mid": "m_pb", "title": "Buy now", "payload": "BUY"},
    }
    post_meta(
        batch(
            entry(
                postback,
                text_item("m_img", "", attachments=[image]),
                {**postback, "postback": {"mid": "m_pb2", "title": "Buy again", "payload": "BUY"}},
            )
        )
    )
    assert Message.objects.count() == 3
    assert Message.objects.get(external_id="m_img").attachments.count() == 1
    assert not Message.objects.get(external_id="m_pb2").attachments.exists()


@pytest.mark.django_db(transaction=True)
def test_a_file_goes_to_messenger_as_the_send_api_documents_and_meta_fetches_it(
    live_server, settings, post_meta, graph, agent, agent_client
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.PUBLIC_BASE_URL = live_server.url
    post_meta(batch(entry(text_item("m_1", "Can I see the label?"))))
    conversation = Conversation.objects.get()
    label = SimpleUploadedFile("label.pdf", b"%PDF-1.4 label", content_type="application/pdf")
    response = agent_client.post(f"/conversations/{conversation.pk}/reply/", {"text": "Attached", "files": [label]})
    assert response.status_code == 200
    text, attachment = graph.requests
    assert text["message"]["text"] == "Attached"
    sent = attachment["message"]["attachment"]
    assert sent["type"] == "file" and sent["payload"]["is_reusable"] is False
    assert sent["payload"]["url"].startswith(f"{live_server.url}/files/")
    assert attachment["messaging_type"] == "RESPONSE" and attachment["recipient"] == {"id": PSID}
    [(_, status, content_type, body)] = graph.media_fetched
    assert (status, content_type, body) == (200, "application/pdf", b"%PDF-1.4 label")
    reply = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert reply.status == Message.Status.SENT
