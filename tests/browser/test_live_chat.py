"""The whole loop as people see it: a visitor on a website, an agent in the workspace."""

import re

import pytest
from playwright.sync_api import expect

from conversations.ingest import message_ingest
from conversations.models import Message
from inbox.connectors.webchat.snippets import widget_snippet
from tests.browser.test_workspace import shot
from tests.factories import InboxFactory, MembershipFactory, UserFactory
from tests.helpers import elsewhere, inbound

pytestmark = pytest.mark.browser


@pytest.fixture
def inbox(transactional_db):
    inbox = InboxFactory(kind="webchat", name="Website")
    MembershipFactory(inbox=inbox, user=UserFactory(username="sam", first_name="Sam"))
    return inbox


def signed_in_agent(browser, server, path="/"):
    page = browser.new_page()
    page.goto(f"{server.url}/login/?next={path}")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    expect(page.locator("#connection")).to_have_text("live")
    return page


def open_widget(browser, customer_site, inbox):
    """A visitor on the customer's website, the chat open and connected."""
    site = customer_site(f"<!doctype html><html><body><h1>Shop</h1>{widget_snippet(inbox)}</body></html>")
    visitor_page = browser.new_page()
    visitor_page.goto(site)
    widget = visitor_page.locator("#inbox-chat-widget")
    widget.locator(".bubble").click()
    expect(widget.locator("header .state")).to_have_text("online")
    return visitor_page, widget


def test_agent_sees_widget_message_live_and_reply_reaches_widget(browser, asgi_server, customer_site, inbox):
    agent_page = signed_in_agent(browser, asgi_server)
    visitor_page, widget = open_widget(browser, customer_site, inbox)
    widget.locator("textarea").fill("Hello, my order is late")
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.visitor .text")).to_have_text("Hello, my order is late")
    expect(widget.locator(".msg.pending")).to_have_count(0)

    # The agent's list shows it without a reload.
    row = agent_page.locator(".conversation-row").filter(has_text="Hello, my order is late")
    expect(row).to_have_count(1)
    row.locator("a").click()
    expect(agent_page).to_have_url(re.compile(r"/conversations/\d+/$"))
    expect(agent_page.locator(".timeline .message.in")).to_have_count(1)

    # A second message lands in the open timeline live.
    widget.locator("textarea").fill("It was due Monday")
    widget.locator("textarea").press("Enter")
    expect(agent_page.locator(".timeline .message.in")).to_have_count(2)
    expect(agent_page.locator(".timeline .message.in").last).to_contain_text("It was due Monday")

    # Each sees the other typing: the visitor in the widget, the agent above the timeline.
    widget.locator("textarea").press_sequentially("One more thing")
    expect(agent_page.locator(".collab .customer-typing")).to_be_visible()
    widget.locator("textarea").fill("")
    agent_page.locator("#reply-text").press_sequentially("Sorry! Checking with the courier now.")
    expect(widget.locator(".typing")).to_have_text("Sam is typing…")

    # The agent replies; the visitor sees it live; the agent sees it delivered.
    agent_page.keyboard.press("Control+Enter")
    expect(widget.locator(".typing")).to_be_hidden()
    expect(widget.locator(".msg.agent")).to_contain_text("Sorry! Checking with the courier now.")
    expect(widget.locator(".msg.agent .author")).to_have_text("Sam")
    expect(agent_page.locator(".timeline .message.out")).to_have_count(1)
    # The widget is open and visible, so the visitor has read it, and the agent sees that live.
    expect(agent_page.locator(".timeline .message.out .delivery .label")).to_have_text("Read")
    assert Message.objects.filter(direction="out", status="read").count() == 1

    # A reload of the widget page keeps the visitor and their history; a reply that arrives while
    # the chat is closed shows as unread on the bubble, and is marked read once opened.
    visitor_page.reload()
    widget = visitor_page.locator("#inbox-chat-widget")
    expect(widget.locator("header .state")).to_have_text("online")
    agent_page.fill("#reply-text", "Found it: it arrives tomorrow.")
    agent_page.keyboard.press("Control+Enter")
    expect(widget.locator(".badge")).to_have_text("1")
    expect(agent_page.locator(".timeline .message.out .delivery .label").last).to_have_text("Delivered")
    widget.locator(".bubble").click()
    expect(widget.locator(".msg")).to_have_count(4)
    expect(widget.locator(".badge")).to_be_hidden()
    expect(agent_page.locator(".timeline .message.out .delivery .label").last).to_have_text("Read")


def test_agent_page_catches_up_on_what_arrived_while_its_socket_was_down(browser, asgi_server, inbox):
    first = elsewhere(message_ingest, inbox=inbox, inbound=inbound("before the outage", address="v-1"))
    page = signed_in_agent(browser, asgi_server, path=f"/conversations/{first.conversation_id}/")
    expect(page.locator(".timeline .message")).to_have_count(1)

    asgi_server.stop()
    expect(page.locator("#connection")).to_have_text("reconnecting…")
    # Arrives while no server could tell the page: only the resync can bring it.
    elsewhere(message_ingest, inbox=inbox, inbound=inbound("during the outage", address="v-1"))
    elsewhere(message_ingest, inbox=inbox, inbound=inbound("a new customer meanwhile", address="v-2"))
    asgi_server.start()

    expect(page.locator("#connection")).to_have_text("live", timeout=20_000)
    expect(page.locator(".timeline .message")).to_have_count(2)
    expect(page.locator(".timeline .message").last).to_contain_text("during the outage")
    expect(page.locator(".conversation-row").first).to_contain_text("a new customer meanwhile")
    expect(page.locator(".conversation-row")).to_have_count(2)


# A 40×30 red picture, as a phone's screenshot would be (any PNG will do).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000280000001e08060000005edd5cdd0000003c49444154789cedce21150020104031825d"
    "ff472b8880fc8889f9ad3d737eb6ea80a0601d1014ac038282754050b00e080ad60141c13a202858075e2edde087e7a43f040600000000"
    "49454e44ae426082"
)


def test_a_visitors_picture_reaches_the_agent_live_and_a_refused_file_says_why(
    browser, asgi_server, customer_site, inbox, tmp_path
):
    agent_page = signed_in_agent(browser, asgi_server)
    visitor_page, widget = open_widget(browser, customer_site, inbox)
    widget.locator("textarea").fill("My parcel came like this")
    widget.locator("textarea").press("Enter")
    row = agent_page.locator(".conversation-row").filter(has_text="My parcel came like this")
    row.locator("a").click()
    expect(agent_page.locator(".timeline .message.in")).to_have_count(1)

    picture = tmp_path / "damage.png"
    picture.write_bytes(PNG)
    widget.locator("input.file").set_input_files(str(picture))
    expect(widget.locator(".msg.visitor .files img")).to_have_count(1)
    expect(widget.locator(".msg.pending")).to_have_count(0)
    # The agent sees the picture in the open timeline, live.
    expect(agent_page.locator(".timeline .message.in .attachments img")).to_have_count(1)
    expect(agent_page.locator(".timeline .message.in .attachments")).to_contain_text("damage.png")

    page = tmp_path / "page.html"
    page.write_text("<html><script>alert(1)</script></html>")
    widget.locator("input.file").set_input_files(str(page))
    expect(widget.locator(".notice")).to_contain_text("This kind of file cannot be sent here.")
    expect(widget.locator(".msg.failed")).to_have_count(1)
    # Emoji, and every message with its time and the agent's initials.
    widget.locator(".emoji-toggle").click()
    widget.locator(".emoji button").first.click()
    expect(widget.locator("textarea")).to_have_value("😀")
    agent_page.locator("#reply-text").fill("Thank you, a new one is on its way.")
    agent_page.keyboard.press("Enter")  # a chat: Enter sends
    expect(widget.locator(".row.agent .avatar")).to_have_text("S")
    expect(widget.locator(".msg time").first).to_be_visible()
    shot(visitor_page, "widget-upload")
    assert Message.objects.filter(direction="in", attachments__content_type="image/png").count() == 1


def test_the_widget_asks_for_a_rating_once_resolved_and_the_agent_sees_it_live(
    browser, asgi_server, customer_site, inbox
):
    elsewhere(lambda: type(inbox).objects.filter(pk=inbox.pk).update(csat_enabled=True))
    agent_page = signed_in_agent(browser, asgi_server)
    visitor_page, widget = open_widget(browser, customer_site, inbox)
    widget.locator("textarea").fill("Do you have it in blue?")
    widget.locator("textarea").press("Enter")
    agent_page.locator(".conversation-row").filter(has_text="Do you have it in blue?").locator("a").click()
    agent_page.locator("#reply-text").fill("Yes, we do! It ships tomorrow.")
    agent_page.keyboard.press("Control+Enter")
    expect(widget.locator(".msg.agent")).to_contain_text("It ships tomorrow")
    agent_page.locator("#resolve-button").click()
    # The question comes with five buttons; a click answers, then a comment may follow.
    buttons = widget.locator(".survey .scale button")
    expect(buttons).to_have_count(5)
    expect(widget.locator(".survey .labels")).to_contain_text("Very poor")
    shot(visitor_page, "widget-survey")
    buttons.nth(3).click()
    expect(widget.locator(".survey .done")).to_have_text("Thank you! You rated 4 out of 5.")
    widget.locator(".survey textarea").fill("Quick answer, thanks")
    widget.locator(".survey .send-comment").click()
    expect(widget.locator(".survey textarea")).to_have_count(0)
    # The agent sees the rating in the timeline and the stars in the header, live.
    expect(agent_page.locator(".timeline .message .rating")).to_contain_text("Rated 4 out of 5")
    expect(agent_page.locator(".conversation-header .csat-badge")).to_have_text("★★★★☆")
    expect(agent_page.locator(".timeline")).to_contain_text("Quick answer, thanks")


def test_outside_hours_the_widget_says_so_and_takes_an_email(browser, asgi_server, customer_site, inbox):
    from conversations.business_hours import parse_weekly_hours

    # Hours kept, none this week: away whenever the test runs.
    elsewhere(
        lambda: type(inbox)
        .objects.filter(pk=inbox.pk)
        .update(hours_enabled=True, weekly_hours=parse_weekly_hours(""), away_message="We answer from 9:00.")
    )
    site = customer_site(f"<!doctype html><html><body><h1>Shop</h1>{widget_snippet(inbox)}</body></html>")
    visitor_page = browser.new_page()
    visitor_page.goto(site)
    widget = visitor_page.locator("#inbox-chat-widget")
    widget.locator(".bubble").click()
    expect(widget.locator("header .state")).to_have_text("away")
    expect(widget.locator(".availability")).to_contain_text("We are away right now.")
    widget.locator("textarea").fill("Can I still order today?")
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.agent")).to_contain_text("We answer from 9:00.")  # the inbox's away reply
    widget.locator(".email-me input").fill("vera@example.com")
    widget.locator(".email-me button").click()
    expect(widget.locator(".availability")).to_contain_text("we will write to vera@example.com")
    shot(visitor_page, "widget-away")
    agent_page = signed_in_agent(browser, asgi_server)
    agent_page.locator(".conversation-row").filter(has_text="Can I still order today?").locator("a").click()
    expect(agent_page.locator("#customer-pane")).to_contain_text("vera@example.com")
