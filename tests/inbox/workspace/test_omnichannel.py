"""One customer, several channels: merge the one who texted with the one who emailed, answer on either."""

import re
from urllib.parse import urlencode

import pytest
from django.core import mail

from conversations.models import Conversation, Message
from customers.models import ContactIdentity, Customer
from tests.factories import InboxFactory, MembershipFactory, UserFactory
from tests.inbox.connectors.email.test_mail import _basic
from tests.inbox.connectors.sms.test_webhook_and_send import inbound_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def inboxes(twilio, agent, settings):
    settings.PUBLIC_BASE_URL = "https://inbox.shop.example"
    email = InboxFactory(kind="email", name="Support mail", settings={"address": "support@shop.example"})
    sms = InboxFactory(
        kind="sms",
        name="Texts",
        settings={"from_number": "+15017122661"},
        credentials={"account_sid": twilio.account_sid, "auth_token": twilio.auth_token},
    )
    for inbox in (email, sms):
        MembershipFactory(inbox=inbox, user=agent)
    return email, sms


@pytest.fixture
def ada_on_two_channels(inboxes, twilio, client, django_capture_on_commit_callbacks):
    """Ada emails, then texts: two customers until an agent says they are one."""
    from twilio.request_validator import RequestValidator

    email, sms = inboxes
    raw = (
        b"From: Ada Lovelace <ada@example.com>\r\nTo: support@shop.example\r\nSubject: Order 1042\r\n"
        b"Message-ID: <ada-1@example.com>\r\n\r\nWhere is order 1042?\r\n"
    )
    fields = inbound_fields(twilio, body="Texting you about order 1042 too")
    path = f"/hooks/sms/{sms.public_token}/"
    signature = RequestValidator(twilio.auth_token).compute_signature(f"https://inbox.shop.example{path}", fields)
    with django_capture_on_commit_callbacks(execute=True):
        auth = {"Authorization": _basic(email.secret)}
        client.post(f"/hooks/email/{email.public_token}/", raw, content_type="message/rfc822", headers=auth)
        client.post(
            path,
            urlencode(fields),
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": signature},
        )
    by_email = Customer.objects.get(identities__kind="email")
    by_phone = Customer.objects.get(identities__kind="phone")
    assert by_email != by_phone
    return by_email, by_phone


def test_merged_customer_has_one_timeline_and_the_reply_goes_out_on_the_chosen_channel(
    ada_on_two_channels, inboxes, agent_client, twilio, django_capture_on_commit_callbacks
):
    by_email, by_phone = ada_on_two_channels
    email_conversation = Conversation.objects.get(customer=by_email)
    response = agent_client.post(
        f"/customers/{by_email.pk}/merge/", {"other": by_phone.pk, "conversation": email_conversation.pk}
    )
    assert response.status_code == 302
    assert set(ContactIdentity.objects.values_list("customer_id", flat=True)) == {by_email.pk}
    assert Customer.objects.get(pk=by_phone.pk).merged_into_id == by_email.pk

    page = agent_client.get(f"/conversations/{email_conversation.pk}/").content.decode()
    assert "Where is order 1042?" in page and "Texting you about order 1042 too" in page  # one timeline
    options = re.findall(r'<option value="(\d+:\d+)" data-kind="\w+"( selected)?>([^<]+)</option>', page)
    assert [label for _, _, label in options] == ["Texts · +14155550123", "Support mail · ada@example.com"]
    assert options[0][1] == " selected"  # by default, where they last wrote from

    reply_url = f"/conversations/{email_conversation.pk}/reply/"
    with django_capture_on_commit_callbacks(execute=True):
        agent_client.post(reply_url, {"text": "On its way (by text)", "channel": options[0][0]})
        agent_client.post(reply_url, {"text": "On its way (by mail)", "channel": options[1][0]})
    assert [r["form"]["Body"] for r in twilio.requests] == ["On its way (by text)"]
    assert [m.body for m in mail.outbox] == ["On its way (by mail)"]
    by_text = Message.objects.get(text="On its way (by text)")
    assert by_text.inbox.kind == "sms" and by_text.status == Message.Status.SENT
    assert by_text.conversation.customer_id == by_email.pk


def test_a_channel_that_is_not_the_customers_is_refused(ada_on_two_channels, inboxes, agent_client):
    by_email, _ = ada_on_two_channels
    conversation = Conversation.objects.get(customer=by_email)
    stranger = ContactIdentity.objects.create(customer=Customer.objects.create(), kind="email", address="eve@x.example")
    response = agent_client.post(
        f"/conversations/{conversation.pk}/reply/", {"text": "hi", "channel": f"{stranger.pk}:{inboxes[0].pk}"}
    )
    assert response.status_code == 422 and not Message.objects.filter(text="hi").exists()


def test_an_agent_cannot_merge_a_customer_they_cannot_see(ada_on_two_channels, client):
    by_email, by_phone = ada_on_two_channels
    outsider = UserFactory()
    MembershipFactory(inbox=InboxFactory(kind="email"), user=outsider)
    client.force_login(outsider)
    assert client.post(f"/customers/{by_email.pk}/merge/", {"other": by_phone.pk}).status_code == 404
    assert Customer.objects.get(pk=by_phone.pk).merged_into_id is None


def test_a_merge_that_would_move_conversations_the_agent_cannot_see_is_refused(ada_on_two_channels, agent, client):
    from tests.factories import ConversationFactory

    by_email, by_phone = ada_on_two_channels
    texts = Conversation.objects.get(customer=by_phone).inbox
    # Both customers show in the SMS inbox, but the email one also has a conversation in the email inbox.
    ConversationFactory(inbox=texts, customer=by_email, identity=ContactIdentity.objects.get(kind="email"))
    texts_only = UserFactory()
    MembershipFactory(inbox=texts, user=texts_only)
    client.force_login(texts_only)
    assert client.post(f"/customers/{by_phone.pk}/merge/", {"other": by_email.pk}).status_code == 403
    assert Customer.objects.get(pk=by_email.pk).merged_into_id is None
