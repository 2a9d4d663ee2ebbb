"""Two agents working side by side in the workspace, in real Chromium, against the real server."""

import re
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from conversations.ingest import message_ingest
from conversations.models import Conversation
from inbox.connectors.fake import sign
from tests.helpers import elsewhere, fake_payload, inbound

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def customer_writes(server, inbox, text, sender, name=""):
    """A customer's message reaching the server the way providers deliver: a signed webhook."""
    body = fake_payload(text=text, **{"from": sender, "name": name})
    request = urllib.request.Request(
        f"{server.url}/hooks/fake/{inbox.public_token}/",
        data=body,
        headers={"Content-Type": "application/json", "X-Fake-Signature": sign(inbox.secret, body)},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def sign_in(browser, server, username, path="/", viewport=None, color_scheme="light"):
    context = browser.new_context(
        timezone_id="UTC", viewport=viewport or {"width": 1400, "height": 860}, color_scheme=color_scheme
    )
    page = context.new_page()
    page.goto(f"{server.url}/login/?next={quote(path)}")  # a path with a query keeps all of it
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    expect(page.locator("#connection")).to_have_text("live")
    return page


def rows(page):
    return page.locator("#conversation-list .conversation-row")


def open_conversation(page, conversation):
    page.locator(f"#conv-row-{conversation.pk} a").click()
    expect(page.locator(".timeline-pane")).to_have_attribute("data-conversation", str(conversation.pk))


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_new_message_moves_to_the_top_of_both_lists_viewing_typing_and_the_send_guard(browser, asgi_server, team_inbox):
    inbox, ada, grace = team_inbox
    sam = sign_in(browser, asgi_server, "sam")
    sam_online = '.presence [data-presence-user="{}"]'
    kim = sign_in(browser, asgi_server, "kim")
    # Presence: each sees the other online, and Kim going away is seen at once.
    kim_id, sam_id = (elsewhere(lambda n=n: User.objects.get(username=n).pk) for n in ("kim", "sam"))
    expect(sam.locator(sam_online.format(kim_id))).to_have_class(re.compile(r"\bonline\b"))
    expect(kim.locator(sam_online.format(sam_id))).to_have_class(re.compile(r"\bonline\b"))
    for page in (sam, kim):
        expect(rows(page).first).to_contain_text("Grace Hopper")
        expect(page.locator('[data-count-for="all"]')).to_have_text("2")

    # Ada writes again, and a new customer writes: both lists reorder and count, live.
    customer_writes(asgi_server, inbox, "Any news on my parcel?", "ada@example.com")
    customer_writes(asgi_server, inbox, "Hello!", "alan@example.com", name="Alan Turing")
    for page in (sam, kim):
        expect(rows(page).first).to_contain_text("Alan Turing")
        expect(rows(page).nth(1)).to_contain_text("Any news on my parcel?")
        expect(rows(page).nth(1)).to_have_class(re.compile(r"\bunread\b"))
        expect(page.locator('[data-count-for="all"]')).to_have_text("3")

    # Sam opens Ada's conversation; Kim, on it too, sees Sam viewing, then typing.
    open_conversation(sam, ada)
    expect(rows(sam).nth(1)).not_to_have_class(re.compile(r"\bunread\b"))
    open_conversation(kim, ada)
    expect(kim.locator(f"#collab-{ada.pk}")).to_contain_text("Sam Stone is viewing")
    sam.locator("#reply-text").press_sequentially("Let me check that for ")
    expect(kim.locator(f"#collab-{ada.pk}")).to_contain_text("Sam Stone is typing a reply")
    shot(kim, "workspace-two-agents")

    # Ada writes while Sam is mid-reply: Sam is told at once, and sending asks to confirm.
    customer_writes(asgi_server, inbox, "Actually it just arrived!", "ada@example.com")
    expect(sam.locator("#composer .arrived")).to_be_visible()
    sam.locator("#reply-text").press_sequentially("you.")
    sam.locator("#send-button").click()
    guard = sam.locator("#send-guard")
    expect(guard).to_contain_text("Actually it just arrived!")
    expect(sam.locator("#reply-text")).to_have_value("Let me check that for you.")  # nothing lost
    shot(sam, "send-guard")
    sam.locator("#send-anyway").click()
    expect(sam.locator(".timeline .message.out").last).to_contain_text("Let me check that for you.")
    expect(kim.locator(".timeline .message.out").last).to_contain_text("Let me check that for you.")
    expect(sam.locator("#reply-text")).to_have_value("")


def test_note_mention_assign_label_snooze_wake_up_and_resolve(browser, asgi_server, team_inbox):
    inbox, ada, grace = team_inbox
    sam, kim = sign_in(browser, asgi_server, "sam"), sign_in(browser, asgi_server, "kim")
    open_conversation(sam, ada)

    # A private note mentioning Kim, picked from the suggestions: Kim is notified.
    sam.locator("[data-mode-switch=note]").click()
    sam.locator("#reply-text").press_sequentially("Can you check the courier, @ki")
    expect(sam.locator("#suggestions li").first).to_contain_text("@kim")
    sam.locator("#reply-text").press("Enter")
    sam.locator("#reply-text").press_sequentially("please?")
    sam.locator("#send-button").click()
    note = sam.locator(".timeline .message.note").last
    expect(note).to_contain_text("Can you check the courier, @kim please?")
    expect(note.locator("mark.mention")).to_have_text("@kim")
    expect(kim.locator("#notif-count")).to_have_text("1")
    expect(kim).to_have_title("(1) Inbox")
    kim.locator("#notifications-menu summary").click()
    expect(kim.locator("#notification-list .notification").first).to_contain_text("Sam Stone mentioned you")
    shot(kim, "mention-notification")
    kim.locator("#notification-list .notification a").first.click()
    expect(kim.locator(".timeline .message.note").last).to_contain_text("@kim")

    # A canned response by its shortcut, in a reply.
    sam.locator("[data-mode-switch=reply]").click()
    sam.locator("#reply-text").press_sequentially("/than")
    sam.locator("#reply-text").press("Enter")
    expect(sam.locator("#reply-text")).to_have_value("Thank you for writing to us!")
    sam.locator("#reply-text").fill("")

    # Sam assigns it to Kim and labels it: both see it, Kim is notified.
    sam.locator("#assignee-select").select_option(label="Kim Lee")
    expect(kim.locator("#notif-count")).to_have_text("2")
    for page in (sam, kim):
        expect(page.locator(f"#conv-row-{ada.pk} .assignee")).to_have_text("Kim Lee")
    sam.locator("#labels-menu summary").click()
    sam.locator("#labels-menu input[type=checkbox]").first.check()
    for page in (sam, kim):
        expect(page.locator(f"#conv-row-{ada.pk} .label-chip")).to_have_text("vip")
        expect(page.locator(f"#conv-header-{ada.pk} summary .label-chip")).to_have_text("vip")

    # Snoozed for a few seconds: it leaves the open list, then wakes up and Kim (the assignee) is told.
    until = (datetime.now(UTC) + timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%S")
    sam.locator("#snooze-menu summary").click()
    sam.locator("#snooze-until").fill(until)
    sam.locator("#snooze-custom").click()
    expect(sam.locator(f"#status-{ada.pk}")).to_contain_text("Snoozed")
    expect(kim.locator(f"#conv-row-{ada.pk}")).to_have_count(0)  # the open view no longer holds it
    expect(kim.locator(f"#status-{ada.pk}")).to_contain_text("Open", timeout=15_000)
    expect(kim.locator(f"#conv-row-{ada.pk}")).to_have_count(1)
    expect(kim.locator("#notification-list .notification").first).to_contain_text("Snooze ended")

    # Resolved from the keyboard.
    sam.locator("body").press("e")
    expect(sam.locator(f"#status-{ada.pk}")).to_contain_text("Resolved")
    expect(kim.locator(f"#status-{ada.pk}")).to_contain_text("Resolved")
    assert elsewhere(lambda: Conversation.objects.get(pk=ada.pk).status) == "resolved"


def test_keyboard_search_merge_and_undo(browser, asgi_server, team_inbox):
    inbox, ada, grace = team_inbox
    # The same Ada, writing by text message from another device: a second customer until merged.
    other = elsewhere(
        message_ingest,
        inbox=inbox,
        inbound=inbound("Texting about my parcel", kind="email", address="ada.l@example.net", name="Ada L."),
    ).conversation
    sam = sign_in(browser, asgi_server, "sam")

    # j / k / Enter, and ? for the list of shortcuts.
    sam.locator("body").press("j")
    sam.locator("body").press("j")
    sam.locator("body").press("k")
    expect(rows(sam).first).to_have_class(re.compile(r"\bselected\b"))
    sam.locator("body").press("Enter")
    expect(sam.locator(".timeline-pane")).to_have_attribute("data-conversation", str(other.pk))
    sam.locator("body").press("?")
    expect(sam.locator("#shortcuts")).to_be_visible()
    sam.keyboard.press("Escape")

    # / searches; a hit opens its conversation.
    sam.locator("body").press("/")
    expect(sam.locator("#search-input")).to_be_focused()
    sam.keyboard.type("parcel")
    expect(sam.locator("#search-results .conversation-hit")).to_have_count(2)
    shot(sam, "search")
    sam.locator(f"#search-results .conversation-hit a[href*='/conversations/{ada.pk}/']").first.click()
    expect(sam.locator(".timeline-pane")).to_have_attribute("data-conversation", str(ada.pk))

    # Merge Ada L. into Ada Lovelace, after a preview of what moves; then undo it.
    sam.locator("#merge-section summary").click()
    sam.locator("#merge-search").press_sequentially("Ada L.")
    sam.locator("#merge-candidates button", has_text="Ada L.").click()
    expect(sam.locator(".merge-preview")).to_contain_text(f"Conversation #{other.pk}")
    shot(sam, "merge-preview")
    sam.locator("#merge-confirm").click()
    expect(sam.locator(".merge-banner")).to_contain_text("1 conversation and 1 address moved")
    expect(sam.locator(".timeline")).to_contain_text("Texting about my parcel")
    sam.locator("#merge-undo").click()
    expect(sam.locator(".merge-banner")).to_contain_text("Merge undone")
    expect(sam.locator(".timeline")).not_to_contain_text("Texting about my parcel")
    assert elsewhere(lambda: Conversation.objects.get(pk=other.pk).customer_id) != ada.customer_id


def test_bulk_actions_and_filters_keep_the_url(browser, asgi_server, team_inbox):
    inbox, ada, grace = team_inbox
    sam = sign_in(browser, asgi_server, "sam")
    for conversation in (ada, grace):
        sam.locator(f"#conv-row-{conversation.pk} input.select").check()
    expect(sam.locator("#bulk-form")).to_be_visible()
    sam.locator("#bulk-action").select_option("resolve")
    sam.locator("#bulk-form button[type=submit]").click()
    expect(sam.locator("#bulk-count")).to_have_text("2 of 2 changed")
    expect(rows(sam)).to_have_count(0)  # the open view empties as they resolve
    expect(sam.locator('[data-count-for="all"]')).to_have_text("0")

    sam.locator(".filters select[name=status]").select_option("resolved")
    expect(rows(sam)).to_have_count(2)
    expect(sam).to_have_url(f"{asgi_server.url}/?status=resolved")
    sam.reload()
    expect(rows(sam)).to_have_count(2)
    open_conversation(sam, ada)
    expect(sam).to_have_url(f"{asgi_server.url}/conversations/{ada.pk}/?status=resolved")
    sam.go_back()
    expect(sam).to_have_url(f"{asgi_server.url}/?status=resolved")
    shot(sam, "workspace")

    # On a tablet: the list and the conversation side by side, the customer one tap away.
    sam.set_viewport_size({"width": 900, "height": 1100})
    open_conversation(sam, grace)
    expect(sam.locator("#customer-pane")).to_be_hidden()
    sam.locator("[data-toggle-customer]").click()
    expect(sam.locator("#customer-pane")).to_be_visible()
    expect(sam.locator(".list-pane")).to_be_visible()
    shot(sam, "tablet")
