"""The workspace's edges, in real Chromium: what an agent meets beyond the live core (issue 12)."""

import io
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from conversations.ingest import message_ingest
from conversations.models import Conversation, Label, Notification
from inbox.management.commands.demo import DEMO_MAIL
from tests.browser.test_workspace import customer_writes, open_conversation, rows, shot, sign_in
from tests.factories import ConversationFactory, InboxFactory, MembershipFactory, UserFactory
from tests.helpers import elsewhere, inbound

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


def test_a_resync_under_the_waiting_sort_never_shows_a_row_twice(browser, asgi_server, busy_inbox):
    start = timezone.now() - timedelta(days=1)
    for n, conversation in enumerate(Conversation.objects.order_by("pk")):
        Conversation.objects.filter(pk=conversation.pk).update(waiting_since=start + timedelta(minutes=n))
    page = sign_in(browser, asgi_server, "sam", "/?view=all&sort=waiting")
    expect(rows(page)).to_have_count(50)
    # The longest waiting was answered and the customer wrote again while this page missed both
    # events: it now waits least, below everything loaded, and comes with a later page.
    first = Conversation.objects.get(pk=rows(page).first.get_attribute("data-id"))
    page.wait_for_load_state("networkidle")  # the socket's own first resync is done
    Conversation.objects.filter(pk=first.pk).update(waiting_since=timezone.now(), updated_at=timezone.now())
    with page.expect_response(lambda response: "/sync/" in response.url):
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator(f"#conv-row-{first.pk}")).to_have_count(0)
    page.locator("#conversation-list").hover()
    for _ in range(40):
        if rows(page).count() >= 160:
            break
        page.mouse.wheel(0, 4000)
        page.wait_for_timeout(150)
    expect(rows(page)).to_have_count(160)
    expect(page.locator(f"#conv-row-{first.pk}")).to_have_count(1)
    assert page.locator("#conversation-list li.conversation-row").last.get_attribute("id") == f"conv-row-{first.pk}"


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
    page.locator(".customer-toggle").click()
    expect(page.locator("#customer-pane")).to_be_visible()
    assert page.locator("#customer-pane").bounding_box()["width"] >= 380
    shot(page, "phone-customer")
    page.locator("#customer-pane .customer-close").click()
    expect(page.locator("#customer-pane")).to_be_hidden()
    page.locator(".conversation-header .back").click()
    expect(rows(page)).to_have_count(2)


def test_the_labels_menu_stays_open_while_labels_are_ticked(browser, asgi_server, team_inbox):
    inbox, ada, _ = team_inbox
    Label.objects.create(name="returns", color="#175cd3")
    page = sign_in(browser, asgi_server, "sam")
    open_conversation(page, ada)
    page.locator("#labels-menu summary").click()
    page.get_by_role("checkbox", name="vip").check()
    expect(page.locator(f"#conv-header-{ada.pk} summary .label-chip")).to_have_text(["vip"])
    expect(page.locator("#labels-menu")).to_have_attribute("open", "")
    expect(page.get_by_role("checkbox", name="vip")).to_be_focused()
    page.get_by_role("checkbox", name="returns").check()  # no need to open the menu again
    expect(page.locator(f"#conv-header-{ada.pk} summary .label-chip")).to_have_text(["returns", "vip"])
    page.keyboard.press("Escape")
    expect(page.locator("#labels-menu")).not_to_have_attribute("open", "")


def test_every_pane_tells_the_same_story_after_resolve_and_merge(browser, asgi_server, team_inbox):
    inbox, ada, grace = team_inbox
    chat = InboxFactory(kind="webchat", name="Website")
    MembershipFactory(inbox=chat, user=elsewhere(lambda: User.objects.get(username="sam")))
    visitor = elsewhere(
        message_ingest, inbox=chat, inbound=inbound("Hi, it's Ada again", kind="webchat", address="v-7f3a9c0d1e")
    ).conversation
    sam = sign_in(browser, asgi_server, "sam")

    # Resolving shows in the header, the list and the sidebar alike.
    open_conversation(sam, ada)
    sam.locator(".conversation-header button", has_text="Resolve").click()
    expect(sam.locator(f"#status-{ada.pk}")).to_contain_text("Resolved")
    expect(sam.locator(f"#past-status-{ada.pk}")).to_have_text("Resolved")

    # The nameless visitor takes Ada in: the banner names both as they were.
    open_conversation(sam, visitor)
    expect(sam.locator("#customer-pane .identities")).not_to_contain_text("v-7f3a9c0d1e")
    expect(sam.locator("#customer-pane .identities")).to_contain_text("Website chat since")
    sam.locator("#merge-section summary").click()
    sam.locator("#merge-search").press_sequentially("Ada Love")
    sam.locator("#merge-candidates button", has_text="Ada Lovelace").click()
    sam.locator("#merge-confirm").click()
    expect(sam.locator(".merge-banner")).to_contain_text(f"Merged Ada Lovelace into Customer #{visitor.customer_id}")
    # Every pane now says Ada: the header, the sidebar, and the list's row, live.
    expect(sam.locator(".conversation-header h1")).to_have_text("Ada Lovelace")
    expect(sam.locator("#customer-pane h2")).to_have_text("Ada Lovelace")
    expect(sam.locator(f"#conv-row-{visitor.pk} .customer")).to_have_text("Ada Lovelace")
    # The reply picker names the chat by when Ada wrote, never by the visitor's internal id.
    picker = sam.locator("#composer select[name=channel]")
    expect(picker).to_contain_text("Website · chat of")
    expect(picker).not_to_contain_text("v-7f3a9c0d1e")


def test_events_for_panes_not_on_screen_are_dropped_quietly(browser, asgi_server, team_inbox):
    inbox, ada, grace = team_inbox
    sam = sign_in(browser, asgi_server, "sam")
    errors, icons = [], []
    sam.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sam.on("response", lambda response: "favicon" in response.url and icons.append(response.status))
    sam.reload()
    expect(sam.locator("#connection")).to_have_text("live")
    # Neither conversation is open: their headers and timelines are nowhere on the page.
    for row in (ada, grace):
        sam.locator(f"#conv-row-{row.pk} input.select").check()
    sam.locator("#bulk-action").select_option("resolve")
    sam.locator("#bulk-form button[type=submit]").click()
    expect(rows(sam)).to_have_count(0)  # resolved: out of the Open list, live
    customer_writes(asgi_server, inbox, "One more thing", "ada@example.com")  # its timeline is not open either
    expect(rows(sam)).to_have_count(1)
    assert not [text for text in errors if "oobErrorNoTarget" in text], errors
    assert icons and set(icons) == {200}


ARABIC = "مرحبا، لم يصل طلبي رقم ١٠٤٢ بعد. هل يمكنكم التحقق من شركة الشحن من فضلكم؟ شكرا جزيلا لكم على المساعدة"


def test_arabic_reads_right_to_left_in_every_pane(browser, asgi_server, team_inbox):
    inbox, _, _ = team_inbox
    sam = sign_in(browser, asgi_server, "sam")
    customer_writes(asgi_server, inbox, ARABIC, "layla@example.com", name="ليلى حسن")
    row = sam.locator("#conversation-list .conversation-row").first
    expect(row.locator(".customer")).to_have_text("ليلى حسن")
    rtl = "element => element.matches(':dir(rtl)')"
    # The list's preview is cut at its end (the left), never at its start.
    assert row.locator(".customer").evaluate(rtl) and row.locator(".preview").evaluate(rtl)
    row.locator("a").click()
    bubble = sam.locator(".timeline .message .text").last
    expect(bubble).to_contain_text("مرحبا")
    assert bubble.evaluate(rtl) and sam.locator(".conversation-header h1").evaluate(rtl)
    assert sam.locator("#customer-pane h2").evaluate(rtl)
    # An agent answering in Arabic writes right to left too, and English stays left to right.
    sam.locator("#reply-text").fill("شكرا، سنتحقق الآن")
    assert sam.locator("#reply-text").evaluate(rtl)
    assert not sam.locator(".conversation-header .inbox-name").evaluate(rtl)
    shot(sam, "arabic-conversation")


def test_mail_taken_from_the_command_line_appears_live(browser, asgi_server, team_inbox):
    inbox, _, _ = team_inbox
    mail = elsewhere(
        lambda: InboxFactory(kind="email", name="Support email", settings={"address": "support@example.com"})
    )
    elsewhere(lambda: MembershipFactory(inbox=mail, user=User.objects.get(username="sam")))
    sam = sign_in(browser, asgi_server, "sam")
    expect(rows(sam)).to_have_count(2)
    out = io.StringIO()
    # As the demo says to: the shipped sample, handed to the running server (PUBLIC_BASE_URL is it).
    sample = str(DEMO_MAIL / "order-question.eml")
    elsewhere(lambda: call_command("email", "ingest", "--inbox", str(mail.pk), sample, stdout=out))
    if settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer"):
        # Only the server's process reaches the sockets: the mail went through it, and shows live.
        expect(rows(sam).first).to_contain_text("I ordered the walnut desk lamp")
        assert f"delivered to the server at {asgi_server.url}" in out.getvalue()
    else:
        # Through Redis every process reaches every socket, and the command stores the mail itself;
        # this test's server listens under a channel prefix of its own, so the page is reloaded.
        assert "in conversation" in out.getvalue()
        sam.reload()
        expect(rows(sam).first).to_contain_text("I ordered the walnut desk lamp")


def test_dark_mode_follows_the_system_and_the_next_conversation_opens_after_resolve(browser, asgi_server, team_inbox):
    inbox, ada, grace = team_inbox
    page = sign_in(browser, asgi_server, "sam", color_scheme="dark")
    expect(page.locator("#connection")).to_have_text("live")
    open_conversation(page, grace)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)", background  # the dark tokens, not a white page
    page.wait_for_load_state("networkidle")  # the resync the open conversation asks for has answered
    page.locator("#priority-select").select_option(label="Urgent")
    expect(page.locator(f"#conv-row-{grace.pk} .priority")).to_have_text("Urgent")
    page.locator("#after-send").select_option("next")
    page.locator("#emoji-menu summary").click()
    page.locator("#emoji-menu [data-emoji]").first.click()
    expect(page.locator("#reply-text")).to_have_value("😀")
    shot(page, "dark-mode")
    page.locator("#reply-text").fill("")
    page.locator("#resolve-button").click()
    expect(page.locator(".timeline-pane")).to_have_attribute("data-conversation", str(ada.pk))
    # The choice is remembered: on the next page load it is still "next".
    page.reload()
    expect(page.locator("#after-send")).to_have_value("next")


def test_a_saved_view_comes_back_with_its_filters(browser, asgi_server, team_inbox):
    inbox, ada, grace = team_inbox
    page = sign_in(browser, asgi_server, "sam")
    page.locator("select[name=sort]").select_option("priority")
    expect(page).to_have_url(re.compile(r"sort=priority"))
    page.locator(".save-view summary").click()
    page.locator(".save-view input[name=name]").fill("By priority")
    page.locator(".save-view button[type=submit]").click()
    saved = page.locator(".saved-views .view.saved").filter(has_text="By priority")
    expect(saved).to_have_class(re.compile(r"active"))
    page.goto(f"{asgi_server.url}/")
    expect(saved).not_to_have_class(re.compile(r"active"))
    saved.locator("a").click()
    expect(page).to_have_url(re.compile(r"sort=priority"))


def test_the_contact_page_edits_a_contact_and_lists_their_conversations(browser, asgi_server, team_inbox):
    inbox, ada, _ = team_inbox
    page = sign_in(browser, asgi_server, "sam")
    page.get_by_role("link", name="Contacts").click()
    expect(page.locator("#contact-rows tr")).to_have_count(2)
    page.locator("#contact-q").fill("ada@")
    page.keyboard.press("Enter")
    expect(page.locator("#contact-rows tr")).to_have_count(1)
    page.locator("#contact-rows a.contact-name").click()
    page.locator("#contact-company").fill("Analytical Engines")
    page.locator("input[name=attr_key]").last.fill("plan")
    page.locator("input[name=attr_value]").last.fill("Gold")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Saved: attributes, company.")
    page.locator(".add-address input[name=address]").fill("+44 20 7946 0000")
    page.locator(".add-address select").select_option("phone")
    page.locator(".add-address button").click()
    expect(page.locator(".identities")).to_contain_text("+44 20 7946 0000")
    expect(page.locator(".history")).to_contain_text("Added +44 20 7946 0000")
    expect(page.locator(".past")).to_contain_text(f"#{ada.pk}")
    shot(page, "contact-page")
