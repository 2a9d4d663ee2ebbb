"""An email-heavy queue in real Chromium: Reply all with Cc, formatting, the signature, forwarding,
and writing first (issue 12)."""

import pytest
from playwright.sync_api import expect

from conversations.ingest import message_ingest
from conversations.models import Conversation, Message
from inbox.models import AgentProfile
from tests.browser.test_workspace import open_conversation, shot, sign_in
from tests.factories import InboxFactory, MembershipFactory, UserFactory
from tests.helpers import elsewhere, inbound

pytestmark = pytest.mark.browser


@pytest.fixture
def mail_queue(transactional_db):
    inbox = InboxFactory(
        kind="email",
        name="Support mail",
        settings={"address": "support@shop.example", "signature": "Shop Example · +44 20 7946 0000"},
    )
    sam = UserFactory(username="sam", first_name="Sam", last_name="Stone")
    MembershipFactory(inbox=inbox, user=sam)
    AgentProfile.objects.create(user=sam, signature="Sam Stone\nCustomer care")
    mail = inbound("The lamp arrived broken.", kind="email", address="ada@example.com", name="Ada Lovelace")
    mail = type(mail)(
        **{
            **mail.__dict__,
            "subject": "Broken lamp, order #3099",
            "recipients": {"to": ["support@shop.example"], "cc": ["Charles Babbage <charles@example.com>"]},
        }
    )
    conversation = elsewhere(message_ingest, inbox=inbox, inbound=mail).conversation
    return inbox, conversation


def test_reply_all_with_formatting_and_a_signature(browser, asgi_server, mail_queue):
    inbox, conversation = mail_queue
    page = sign_in(browser, asgi_server, "sam")
    open_conversation(page, conversation)
    mail = page.locator(".timeline .message").first
    expect(mail.locator(".subject")).to_have_text("Broken lamp, order #3099")
    expect(mail.locator(".addresses")).to_contain_text("Cc: Charles Babbage <charles@example.com>")
    expect(page.locator(".composer .signature-text")).to_contain_text("Sam Stone")
    expect(page.locator(".composer .signature-text")).to_contain_text("Shop Example")
    page.locator("#reply-all").click()
    expect(page.locator("#mail-cc")).to_have_value("Charles Babbage <charles@example.com>")
    text = page.locator("#reply-text")
    text.press_sequentially("Sorry about that! A ")
    page.keyboard.press("Control+b")
    page.keyboard.type("new lamp")
    page.keyboard.press("End")
    text.press_sequentially(" leaves today.")
    expect(text).to_have_value("Sorry about that! A **new lamp** leaves today.")
    page.keyboard.press("Enter")  # a new line in a mail: Ctrl+Enter sends
    expect(text).to_have_value("Sorry about that! A **new lamp** leaves today.\n")
    shot(page, "email-composer")
    page.keyboard.press("Control+Enter")
    sent = page.locator(".timeline .message.out").last
    expect(sent.locator(".html strong")).to_have_text("new lamp")
    expect(sent.locator(".addresses")).to_contain_text("Cc: Charles Babbage <charles@example.com>")
    expect(sent).to_contain_text("Customer care")
    reply = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert reply.recipients == {"cc": ["Charles Babbage <charles@example.com>"]}


def test_forwarding_a_mail_from_the_timeline(browser, asgi_server, mail_queue):
    inbox, conversation = mail_queue
    page = sign_in(browser, asgi_server, "sam")
    open_conversation(page, conversation)
    page.locator(".timeline .message").first.get_by_role("button", name="Forward").click()
    expect(page.locator("#composer")).to_have_attribute("data-mode", "forward")
    expect(page.locator("#forward-what")).to_have_text("“Broken lamp, order #3099”")
    expect(page.locator("#mail-to")).to_be_focused()
    page.locator("#mail-to").fill("warehouse@shop.example")
    page.locator("#reply-text").fill("Please send a new one.")
    page.locator("#send-button").click()
    forwarded = page.locator(".timeline .message.out").last
    expect(forwarded.locator(".tag")).to_have_text("Forwarded")
    expect(forwarded.locator(".addresses")).to_contain_text("To: warehouse@shop.example")
    expect(forwarded).to_contain_text("The lamp arrived broken.")


def test_writing_first_from_the_list(browser, asgi_server, mail_queue):
    inbox, _ = mail_queue
    page = sign_in(browser, asgi_server, "sam")
    page.keyboard.press("c")
    expect(page.locator("#new-conversation")).to_be_visible()
    page.locator("#new-to").fill("grace@example.com")
    page.locator("#new-name").fill("Grace Hopper")
    page.locator("#new-subject").fill("Your invoice")
    page.locator("#new-text").fill("Here is your invoice.")
    shot(page, "new-conversation")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".timeline-pane .conversation-header")).to_contain_text("Grace Hopper")
    started = Conversation.objects.get(subject="Your invoice")
    expect(page).to_have_url(f"{asgi_server.url}/conversations/{started.pk}/")
    expect(page.locator(f"#conv-row-{started.pk}")).to_be_visible()  # in the list, live
