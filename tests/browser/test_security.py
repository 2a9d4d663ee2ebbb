"""Security around signing in, as a person meets it in Chromium: the lockout, signing out another
browser, and pages that still work under the Content-Security-Policy (the browser fixture fails any
test whose pages report a violation)."""

import re

import pytest
from playwright.sync_api import expect

from conversations.ingest import message_ingest
from conversations.models import Label
from tests.browser.test_workspace import sign_in
from tests.factories import InboxFactory, MembershipFactory, UserFactory
from tests.helpers import elsewhere, inbound

pytestmark = pytest.mark.browser


def test_signing_out_another_browser_closes_it_at_once_and_failed_sign_ins_lock_out(browser, asgi_server):
    inbox = InboxFactory(kind="fake", name="Support")
    MembershipFactory(inbox=inbox, user=UserFactory(username="sam", first_name="Sam"))
    laptop = sign_in(browser, asgi_server, "sam")
    phone = sign_in(browser, asgi_server, "sam")

    laptop.get_by_role("link", name="Your profile").click()
    laptop.get_by_role("link", name="Your sessions").click()
    rows = laptop.locator("table.sessions tbody tr")
    expect(rows).to_have_count(2)
    expect(laptop.locator("tr.current")).to_contain_text("this browser")
    laptop.locator("tr:not(.current)").get_by_role("button", name="Sign out").click()
    expect(laptop.locator(".flash")).to_have_text("That session is signed out.")
    expect(rows).to_have_count(1)

    # The other browser's socket closes, and the workspace takes it to the login page by itself.
    expect(phone).to_have_url(re.compile(r"/login/\?next="), timeout=10_000)

    def attempt(password):
        phone.fill("input[name=username]", "sam")
        phone.fill("input[name=password]", password)
        with phone.expect_navigation():
            phone.click("button[type=submit]")

    for _ in range(4):
        attempt("not-the-password")
        expect(phone.get_by_role("alert")).to_have_text("That username and password do not match.")
    attempt("not-the-password")
    expect(phone.get_by_role("alert")).to_contain_text("Too many failed sign-in attempts. Wait 15 minutes")
    attempt("pw-for-tests")
    expect(phone.get_by_role("alert")).to_contain_text("Too many failed sign-in attempts")
    expect(phone).to_have_url(re.compile(r"/login/"))


def test_the_widget_demo_page_and_the_admin_work_under_the_policy(browser, asgi_server):
    inbox = InboxFactory(kind="webchat", name="Website")
    MembershipFactory(inbox=inbox, user=UserFactory(username="sam", first_name="Sam", is_staff=True, is_superuser=True))
    page = sign_in(browser, asgi_server, "sam")

    page.goto(f"{asgi_server.url}/try/{inbox.public_token}/")
    widget = page.locator("#inbox-chat-widget")
    widget.locator(".bubble").click()
    expect(widget.locator("header .state")).to_have_text("online")
    widget.locator("textarea").fill("Hello from the demo page")
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.visitor .text")).to_have_text("Hello from the demo page")
    expect(widget.locator(".msg.pending")).to_have_count(0)
    # Styled by its own stylesheet (a policy refusing it would leave the bubble unstyled and static).
    assert widget.locator(".bubble").evaluate("el => getComputedStyle(el).position") == "fixed"

    # Labels and teams are still managed in Django's admin.
    page.goto(f"{asgi_server.url}/admin/conversations/label/add/")
    page.fill("input[name=name]", "vip")
    page.fill("input[name=color]", "#b42318")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    # Its colour reaches the workspace's label chips, set from script (the HTML has no style="").
    conversation = elsewhere(message_ingest, inbox=inbox, inbound=inbound("Where is my parcel?")).conversation
    conversation.labels.add(Label.objects.get(name="vip"))
    page.goto(f"{asgi_server.url}/")
    chip = page.locator(f"#conv-row-{conversation.pk} .label-chip")
    expect(chip).to_have_text("vip")
    expect(chip).to_have_attribute("style", re.compile(r"--label:\s*#b42318"))
