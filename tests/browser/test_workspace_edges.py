"""The workspace's edges, in real Chromium: what an agent meets beyond the live core (issue 12)."""

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Notification
from tests.browser.test_workspace import open_conversation, rows, shot, sign_in
from tests.factories import ConversationFactory, InboxFactory, MembershipFactory, UserFactory
from tests.helpers import elsewhere

pytestmark = pytest.mark.browser


@pytest.fixture
def busy_inbox(transactional_db):
    """An inbox with more conversations than three pages of the list, and Sam, one of its agents."""
    inbox = InboxFactory(kind="fake", name="Support")
    MembershipFactory(inbox=inbox, user=UserFactory(username="sam", first_name="Sam", last_name="Stone"))
    for _ in range(160):
        ConversationFactory(inbox=inbox, status=Conversation.Status.OPEN)
    return inbox


def test_scrolling_the_list_pane_loads_every_page(browser, asgi_server, busy_inbox):
    page = sign_in(browser, asgi_server, "sam", "/?view=all")
    expect(rows(page)).to_have_count(50)
    page.locator("#conversation-list").hover()
    for _ in range(40):  # a wheel turn at a time, as a person scrolls the pane the list sits in
        if rows(page).count() == 160:
            break
        page.mouse.wheel(0, 4000)
        page.wait_for_timeout(150)
    expect(rows(page)).to_have_count(160)
    expect(page.locator("#conversation-list .more")).to_have_count(0)


def test_the_mention_picker_inserts_what_notifies_an_invited_agent(browser, asgi_server, team_inbox):
    inbox, ada, _ = team_inbox
    ana = MembershipFactory(
        inbox=inbox, user=UserFactory(username="ana@example.com", email="ana@example.com", first_name="Ana")
    ).user
    sam = sign_in(browser, asgi_server, "sam")
    open_conversation(sam, ada)
    sam.locator("[data-mode-switch=note]").click()
    sam.locator("#reply-text").press_sequentially("Over to you, @ana@ex")  # the picker follows past the "@"
    expect(sam.locator("#suggestions li").first).to_contain_text("@ana@example.com")
    sam.locator("#reply-text").press("Enter")
    sam.locator("#reply-text").press_sequentially("thanks!")
    sam.locator("#send-button").click()
    note = sam.locator(".timeline .message.note").last
    expect(note.locator("mark.mention")).to_have_text("@ana@example.com")
    expect(note).to_contain_text("Over to you, @ana@example.com thanks!")
    assert elsewhere(lambda: list(Notification.objects.filter(kind="mention").values_list("user_id", flat=True))) == [
        ana.pk
    ]


PHONE = {"width": 390, "height": 844}


def test_a_phone_shows_one_pane_at_a_time(browser, asgi_server, team_inbox):
    inbox, ada, _ = team_inbox
    page = sign_in(browser, asgi_server, "sam", viewport=PHONE)
    fits = "() => document.documentElement.scrollWidth <= window.innerWidth"
    # The list fills the screen, and nothing is wider than it.
    expect(rows(page)).to_have_count(2)
    assert page.locator("#list-pane").bounding_box()["width"] >= 380
    assert page.evaluate(fits), "the page is wider than the phone"
    shot(page, "phone-list")
    # Then the conversation, alone.
    open_conversation(page, ada)
    expect(page.locator("#list-pane")).to_be_hidden()
    expect(page.locator(".timeline .message").first).to_be_visible()
    assert page.locator(".timeline-pane").bounding_box()["width"] >= 380 and page.evaluate(fits)
    shot(page, "phone-conversation")
    # Then the customer, over it, and back.
    page.locator("[data-toggle-customer]").first.click()
    expect(page.locator("#customer-pane")).to_be_visible()
    assert page.locator("#customer-pane").bounding_box()["width"] >= 380
    shot(page, "phone-customer")
    page.locator("#customer-pane .customer-close").click()
    expect(page.locator("#customer-pane")).to_be_hidden()
    page.locator(".conversation-header .back").click()
    expect(rows(page)).to_have_count(2)
