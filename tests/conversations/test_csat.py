"""Satisfaction is asked once on each channel, over the real paths (aiosmtpd, the Twilio and Graph
stand-ins, the widget's socket), and each answer is stored and shown; a reply that is not a rating is
an ordinary message."""

import json
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from conversations import csat
from conversations.actions import conversation_set_labels, conversation_set_status
from conversations.ingest import message_ingest
from conversations.models import Conversation, CsatSurvey, Label, Message, Notification
from conversations.replies import message_reply
from inbox.connectors.messenger.connector import signature_of
from tests.factories import InboxFactory, MembershipFactory
from tests.helpers import inbound
from tests.sockets import hello, receive_json, receive_until, say, widget_socket


def fresh(pk):
    return Conversation.objects.select_related("inbox", "customer", "assignee", "identity").get(pk=pk)


def resolve(conversation_id, agent, capture, status="resolved"):
    with capture(execute=True):
        conversation_set_status(conversation=fresh(conversation_id), status=status, actor=agent)


def answer_by_agent(conversation_id, agent, capture):
    with capture(execute=True):
        message_reply(conversation=fresh(conversation_id), author=agent, text="All sorted, have a good day")


# ---- email: signed one-click links -----------------------------------------------------------------


@pytest.fixture
def mail_inbox(db, agent):
    inbox = InboxFactory(kind="email", settings={"address": "help@shop.example"}, csat_enabled=True)
    MembershipFactory(inbox=inbox, user=agent)
    return inbox


def links_in(mail) -> dict[int, str]:
    text = mail.get_body(("plain",)).get_content()
    return {int(n): url for n, url in re.findall(r"^(\d) – [^:]+: (\S+)\s*$", text, re.M)}


def test_email_asks_with_one_click_links_and_the_first_click_is_the_answer(
    smtp_server, mail_inbox, agent, client, agent_client, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    message = message_ingest(inbox=mail_inbox, inbound=inbound("My parcel?", kind="email", address="ada@example.com"))
    answer_by_agent(message.conversation_id, agent, capture)
    resolve(message.conversation_id, agent, capture)
    reply, question = smtp_server.wait_for(2)
    assert question["Auto-Submitted"] == "auto-replied"
    links = links_in(question)
    assert sorted(links) == [1, 2, 3, 4, 5] and len(set(links.values())) == 5
    html = question.get_body(("html",)).get_content()
    assert all(url.replace("&", "&amp;") in html for url in links.values())

    page = client.get(links[4])
    assert page.status_code == 200 and b"Thank you" in page.content
    survey = CsatSurvey.objects.get()
    assert (survey.state, survey.rating) == ("answered", 4)
    # Single use: a second click (another rating) shows the first answer, and changes nothing.
    again = client.get(links[1])
    assert b"your first answer is the one we keep" in again.content and CsatSurvey.objects.get().rating == 4
    client.post(links[4], {"comment": "Quick and kind"})
    assert CsatSurvey.objects.get().comment == "Quick and kind"
    # Shown on the conversation and in its timeline.
    pane = agent_client.get(reverse("workspace:conversation_detail", args=[message.conversation_id])).content.decode()
    assert 'class="csat-badge"' in pane and "★★★★☆" in pane and "Rated 4 out of 5" in pane
    assert "Quick and kind" in pane and "Satisfaction survey" in pane
    assert Notification.objects.filter(kind="rated", user=agent).exists()
    # Asked once: reopened and resolved again, no second question.
    resolve(message.conversation_id, agent, capture, "open")
    resolve(message.conversation_id, agent, capture)
    assert len(smtp_server.wait_for(3, timeout=1)) == 2


def test_a_made_up_or_altered_survey_link_is_refused_and_records_nothing(
    smtp_server, mail_inbox, agent, client, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    message = message_ingest(inbox=mail_inbox, inbound=inbound("Hi", kind="email", address="bo@example.com"))
    answer_by_agent(message.conversation_id, agent, capture)
    resolve(message.conversation_id, agent, capture)
    link = links_in(smtp_server.wait_for(2)[1])[5]
    value = link.rstrip("/").rsplit("/", 1)[1]
    altered = link.replace(value, value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    for url in (altered, "/csat/made-up-value/", link.replace("/csat/", "/csat/x")):
        response = client.get(url)
        assert response.status_code == 404 and b"not valid" in response.content
    assert CsatSurvey.objects.get().state == "asked" and not Message.objects.filter(rating__isnull=False).exists()


# ---- SMS: a digit -------------------------------------------------------------------------------------

PUBLIC = "https://inbox.shop.example"
OUR_NUMBER = "+15017122661"


@pytest.fixture
def sms(twilio, agent, settings, client, django_capture_on_commit_callbacks):
    settings.PUBLIC_BASE_URL = PUBLIC
    inbox = InboxFactory(
        kind="sms",
        settings={"from_number": OUR_NUMBER},
        credentials={"account_sid": twilio.account_sid, "auth_token": twilio.auth_token},
        csat_enabled=True,
    )
    MembershipFactory(inbox=inbox, user=agent)
    counter = iter(range(10**6))

    def text(body):
        sid = f"SM{next(counter):032d}"
        fields = {"MessageSid": sid, "SmsSid": sid, "AccountSid": twilio.account_sid, "From": "+14155550123"}
        fields.update({"To": OUR_NUMBER, "Body": body, "NumMedia": "0"})
        path = f"/hooks/sms/{inbox.public_token}/"
        signature = RequestValidator(twilio.auth_token).compute_signature(PUBLIC + path, fields)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                path,
                urlencode(fields),
                content_type="application/x-www-form-urlencoded",
                headers={"X-Twilio-Signature": signature},
            )
        assert response.status_code == 200

    return inbox, text


def test_sms_asks_for_a_digit_and_the_digit_answers_without_reopening(
    sms, twilio, agent, django_capture_on_commit_callbacks
):
    inbox, text = sms
    capture = django_capture_on_commit_callbacks
    text("Where is my parcel?")
    conversation = Conversation.objects.get()
    answer_by_agent(conversation.pk, agent, capture)
    resolve(conversation.pk, agent, capture)
    asked = twilio.requests[-1]["form"]["Body"]
    assert asked.endswith("Reply with a number from 1 (very poor) to 5 (excellent).")
    text("5 thank you!")
    survey = CsatSurvey.objects.get()
    assert (survey.rating, survey.comment) == (5, "thank you!")
    assert Conversation.objects.count() == 1 and fresh(conversation.pk).status == "resolved"
    answer = Message.objects.get(rating=5)
    assert answer.text == "5 thank you!" and answer.conversation_id == conversation.pk
    assert Message.objects.filter(sender_type="system").count() == 1  # no away reply, nothing else


def test_an_sms_that_is_not_a_rating_is_an_ordinary_message(sms, twilio, agent, django_capture_on_commit_callbacks):
    inbox, text = sms
    capture = django_capture_on_commit_callbacks
    text("Where is my parcel?")
    conversation = Conversation.objects.get()
    answer_by_agent(conversation.pk, agent, capture)
    resolve(conversation.pk, agent, capture)
    text("Actually, can I change the address?")
    assert fresh(conversation.pk).status == "open" and CsatSurvey.objects.get().state == "asked"
    text("3")  # the conversation is open again: a digit is an answer to whatever else was asked
    assert CsatSurvey.objects.get().state == "asked" and not Message.objects.filter(rating__isnull=False).exists()


# ---- Messenger: quick replies ---------------------------------------------------------------------------

PAGE_ID, PSID, APP_SECRET = "104857600000000", "6789012345678901", "meta-app-secret"


def test_messenger_offers_quick_replies_and_a_tap_answers(graph, agent, client, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    inbox = InboxFactory(
        kind="messenger",
        settings={"page_id": PAGE_ID},
        credentials={"app_secret": APP_SECRET, "page_access_token": graph.page_token, "verify_token": "v"},
        csat_enabled=True,
    )
    MembershipFactory(inbox=inbox, user=agent)

    def post(message):
        item = {
            "sender": {"id": PSID},
            "recipient": {"id": PAGE_ID},
            "timestamp": int(timezone.now().timestamp() * 1000),
        }
        body = json.dumps(
            {"object": "page", "entry": [{"id": PAGE_ID, "time": 1, "messaging": [{**item, "message": message}]}]}
        )
        with capture(execute=True):
            response = client.post(
                f"/hooks/messenger/{inbox.public_token}/",
                body,
                content_type="application/json",
                headers={"X-Hub-Signature-256": signature_of(APP_SECRET, body.encode())},
            )
        assert response.status_code == 200

    post({"mid": "m_1", "text": "Is the shop open on Sunday?"})
    conversation = Conversation.objects.get()
    answer_by_agent(conversation.pk, agent, capture)
    resolve(conversation.pk, agent, capture)
    question = graph.requests[-1]["message"]
    payloads = [reply["payload"] for reply in question["quick_replies"]]
    survey = CsatSurvey.objects.get()
    assert payloads == [f"CSAT:{survey.token}:{n}" for n in range(1, 6)]
    assert all(len(reply["title"]) <= 20 for reply in question["quick_replies"])
    post({"mid": "m_2", "text": "4 ★ Good", "quick_reply": {"payload": payloads[3]}})
    survey.refresh_from_db()
    assert (survey.state, survey.rating) == ("answered", 4) and fresh(conversation.pk).status == "resolved"
    # Another customer's payload, replayed, answers nothing.
    assert Message.objects.filter(rating=4).count() == 1


# ---- the widget: buttons -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_widget_shows_buttons_and_a_click_answers():
    inbox = await sync_to_async(InboxFactory)(
        kind="webchat", csat_enabled=True, settings={"allowed_origins": ["https://shop.example"]}
    )
    agent = (await sync_to_async(MembershipFactory)(inbox=inbox)).user
    visitor = await widget_socket(inbox.public_token)
    welcome = await hello(visitor, name="Vera")
    ack = await say(visitor, "Do you ship to Penang?", "c1")
    conversation_id = await sync_to_async(lambda: Message.objects.get(pk=ack["message_id"]).conversation_id)()
    await sync_to_async(lambda: message_reply(conversation=fresh(conversation_id), author=agent, text="We do!"))()
    await receive_until(visitor, "We do!")
    await sync_to_async(
        lambda: conversation_set_status(conversation=fresh(conversation_id), status="resolved", actor=agent)
    )()
    frame = json.loads(await receive_until(visitor, '"survey"'))
    survey = frame["message"]["survey"]
    assert survey["rating"] is None and survey["labels"][4] == "Excellent"
    await visitor.send_to(
        text_data=json.dumps({"type": "survey", "token": survey["token"], "rating": 5, "comment": "Lovely"})
    )
    answer = await receive_json(visitor)
    assert answer == {"type": "survey", "token": survey["token"], "rating": 5, "comment": "Lovely"}
    stored = await sync_to_async(CsatSurvey.objects.get)()
    assert (stored.rating, stored.comment) == (5, "Lovely")
    # Someone else's token, from another socket, answers nothing.
    stranger = await widget_socket(inbox.public_token)
    await hello(stranger, name="Eve")
    await stranger.send_to(text_data=json.dumps({"type": "survey", "token": survey["token"], "rating": 1}))
    assert (await receive_json(stranger))["code"] == "survey_refused"
    # A new page load shows the question answered.
    again = await widget_socket(inbox.public_token)
    history = (await hello(again, visitor_token=welcome["visitor_token"]))["history"]
    asked = [m for m in history if m.get("survey")]
    assert asked[0]["survey"]["rating"] == 5 and any(m.get("rating") == 5 for m in history)
    for socket in (visitor, stranger, again):
        await socket.disconnect()


# ---- the inbox's rules -------------------------------------------------------------------------------------


@pytest.fixture
def chat(db, agent):
    inbox = InboxFactory(kind="fake", csat_enabled=True)
    MembershipFactory(inbox=inbox, user=agent)
    return inbox


def conversation_with_reply(inbox, agent, capture, address="ada@example.com"):
    message = message_ingest(inbox=inbox, inbound=inbound("Help", kind="email", address=address))
    answer_by_agent(message.conversation_id, agent, capture)
    return message.conversation_id


def test_the_label_rule_chooses_who_is_asked(chat, agent, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    vip = Label.objects.create(name="VIP")
    chat.csat_label_rule, chat.csat_label_id = "with", vip.pk
    chat.save()
    plain = conversation_with_reply(chat, agent, capture)
    labelled = conversation_with_reply(chat, agent, capture, "vip@example.com")
    conversation_set_labels(conversation=fresh(labelled), label_ids=[vip.pk], actor=agent)
    resolve(plain, agent, capture)
    resolve(labelled, agent, capture)
    states = dict(CsatSurvey.objects.values_list("conversation_id", "state"))
    assert states == {plain: "skipped", labelled: "asked"}


def test_the_delay_waits_and_a_reopening_in_between_cancels(chat, agent, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    chat.csat_delay_minutes = 60
    chat.save()
    start = timezone.now()
    kept = conversation_with_reply(chat, agent, capture)
    reopened = conversation_with_reply(chat, agent, capture, "bo@example.com")
    resolve(kept, agent, capture)
    resolve(reopened, agent, capture)
    assert csat.surveys_ask_due(now=start + timedelta(minutes=30)) == 0
    resolve(reopened, agent, capture, "open")
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        assert csat.surveys_ask_due() == 1
    states = dict(CsatSurvey.objects.values_list("conversation_id", "state"))
    assert states == {kept: "asked", reopened: "skipped"}


def test_nobody_is_asked_who_never_wrote_or_who_opted_out(chat, agent, django_capture_on_commit_callbacks):
    from customers.models import ContactIdentity
    from tests.factories import ConversationFactory

    capture = django_capture_on_commit_callbacks
    written_first = ConversationFactory(inbox=chat, identity__address="new@example.com")
    answer_by_agent(written_first.pk, agent, capture)
    resolve(written_first.pk, agent, capture)
    opted_out = conversation_with_reply(chat, agent, capture, "stop@example.com")
    ContactIdentity.objects.filter(address="stop@example.com").update(opted_out_at=timezone.now())
    resolve(opted_out, agent, capture)
    assert not CsatSurvey.objects.filter(conversation_id=written_first.pk).exists()
    assert CsatSurvey.objects.get(conversation_id=opted_out).state == "skipped"
