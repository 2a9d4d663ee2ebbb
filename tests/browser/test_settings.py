"""An admin connects every kind of channel through the settings pages, in real Chromium, and the
first message through each lands in an agent's live workspace; connection checks; deactivation."""

import base64
import json
import re
import time
import urllib.parse
import urllib.request

import pytest
from playwright.sync_api import expect
from twilio.request_validator import RequestValidator

from inbox.accounts.invitations import invitation_url
from inbox.connectors.messenger.connector import signature_of
from inbox.models import Inbox
from tests.browser.test_workspace import shot
from tests.factories import UserFactory
from tests.helpers import elsewhere
from tests.mailservers import SMTP_PASSWORD, SMTP_USER

pytestmark = pytest.mark.browser

PAGE_ID = "1234567890123"


@pytest.fixture
def provider_server(server_with, twilio, graph):
    """The site, talking to the Twilio and Graph stand-ins instead of the real APIs."""
    graph.page_id = PAGE_ID
    return server_with(
        TWILIO_API_BASE_URL=twilio.base_url, GRAPH_API_BASE_URL=graph.base_url, GRAPH_API_VERSION=graph.version
    )


@pytest.fixture
def people(transactional_db):
    admin = UserFactory(username="ada", first_name="Ada", last_name="Admin", is_staff=True)
    kim = UserFactory(username="kim", first_name="Kim", last_name="Lee")
    return admin, kim


def sign_in(browser, server, username, **context_options):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, **context_options)
    page = context.new_page()
    page.goto(f"{server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    expect(page.locator("#connection")).to_have_text("live")
    return page


def new_inbox(page, server, kind, fields: dict, *, member="Kim Lee"):
    page.goto(f"{server.url}/settings/inboxes/")
    page.locator(f'a[href="/settings/inboxes/new/{kind}/"]').click()
    for name, value in fields.items():
        page.fill(f"[name={name}]", value)
    page.get_by_label(member).check()
    with page.expect_navigation():  # to the new inbox's page, loaded with its scripts
        page.get_by_role("button", name="Create inbox").click()
    expect(page.locator(".flash")).to_contain_text("is ready")


def copied(page, copy_id) -> str:
    """Click the Copy button beside a value and read what reached the clipboard."""
    page.bring_to_front()  # the clipboard belongs to the focused page
    page.wait_for_load_state()  # the Copy buttons work once the page's script has run
    shown = page.locator(f"#{copy_id}").text_content().strip()
    page.locator(f'button[data-copy="#{copy_id}"]').click()
    # The clipboard itself, not the button's brief "Copied", which a busy machine may miss.
    deadline = time.monotonic() + 5
    while (text := page.evaluate("navigator.clipboard.readText()")) != shown and time.monotonic() < deadline:
        time.sleep(0.1)
    assert text == shown, f"the clipboard holds {text!r}, not the {copy_id} shown"
    return text


def save(page) -> None:
    with page.expect_navigation():  # to the saved page, loaded with its scripts
        page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Saved")


def check_connection(page) -> None:
    page.wait_for_load_state()  # the button works once htmx, a deferred script, has run
    page.get_by_role("button", name="Check connection").click()


def post(url, body: bytes, headers: dict) -> int:
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_an_admin_connects_each_kind_and_the_first_message_reaches_the_agent(
    browser, provider_server, people, twilio, graph, customer_site
):
    server = provider_server
    admin = sign_in(browser, server, "ada", permissions=["clipboard-read", "clipboard-write"])
    kim = sign_in(browser, server, "kim")

    # SMS: the form, the webhook URL copied, then a text signed as Twilio signs it.
    new_inbox(
        admin,
        server,
        "sms",
        {
            "name": "Texts",
            "account_sid": twilio.account_sid,
            "auth_token": twilio.auth_token,
            "from_number": "+14155550100",
        },
    )
    url = copied(admin, "webhook-url")
    fields = {
        "MessageSid": "SM" + "1" * 32,
        "AccountSid": twilio.account_sid,
        "From": "+14155550123",
        "To": "+14155550100",
        "Body": "Texting about my order",
        "NumMedia": "0",
    }
    signature = RequestValidator(twilio.auth_token).compute_signature(url, fields)
    body = urllib.parse.urlencode(fields).encode()
    assert (
        post(url, body, {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}) == 200
    )
    expect(kim.locator("#conversation-list")).to_contain_text("Texting about my order")

    # Messenger: Meta's subscription check with the copied verify token, then a signed batch.
    graph.app_secret = "meta-app-secret"
    new_inbox(
        admin,
        server,
        "messenger",
        {
            "name": "Facebook",
            "page_id": PAGE_ID,
            "page_access_token": graph.page_token,
            "app_secret": "meta-app-secret",
        },
    )
    url, verify = copied(admin, "webhook-url"), copied(admin, "verify-token")
    query = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.verify_token": verify, "hub.challenge": "c-42"})
    with urllib.request.urlopen(f"{url}?{query}", timeout=10) as response:
        assert response.read() == b"c-42"
    batch = {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": 1,
                "messaging": [
                    {
                        "sender": {"id": "6789012345678901"},
                        "recipient": {"id": PAGE_ID},
                        "timestamp": 1_700_000_000_000,
                        "message": {"mid": "m_1", "text": "Hello from Messenger"},
                    }
                ],
            }
        ],
    }
    body = json.dumps(batch).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature_of("meta-app-secret", body)}
    assert post(url, body, headers) == 200
    expect(kim.locator("#conversation-list")).to_contain_text("Hello from Messenger")

    # Email: the raw-mail URL takes basic auth with the secret, shown once after creation.
    new_inbox(admin, server, "email", {"name": "Support mail", "address": "help@example.com"})
    secret, url = copied(admin, "secret-value"), copied(admin, "webhook-url")
    mail = (
        b"From: Grace <grace@example.org>\r\nTo: help@example.com\r\nSubject: Invoice\r\n"
        b"Message-ID: <abc@example.org>\r\n\r\nWhere is my invoice?\r\n"
    )
    auth = base64.b64encode(f"inbox:{secret}".encode()).decode()
    assert post(url, mail, {"Content-Type": "message/rfc822", "Authorization": f"Basic {auth}"}) == 200
    expect(kim.locator("#conversation-list")).to_contain_text("Where is my invoice?")

    # The widget: colour and greeting previewed live, the snippet copied onto a customer's site.
    new_inbox(admin, server, "webchat", {"name": "Website", "greeting": "Hi! We answer within minutes."})
    preview = admin.frame_locator("#widget-preview")
    expect(preview.locator("#inbox-chat-widget")).to_have_count(1)
    admin.fill("[name=greeting]", "Ask us anything")
    admin.fill("[name=color]", "#b42318")
    expect(admin.locator("#widget-preview")).to_have_attribute("src", re.compile(r"greeting=Ask.*"))
    preview.locator("#inbox-chat-widget .bubble").click()
    expect(preview.locator("#inbox-chat-widget .greeting")).to_be_visible()
    expect(preview.locator("#inbox-chat-widget .greeting")).to_have_text("Ask us anything")
    expect(preview.locator("#inbox-chat-widget .bubble")).to_have_css("background-color", "rgb(180, 35, 24)")
    admin.locator("#widget-preview").scroll_into_view_if_needed()
    shot(admin, "settings-widget")
    # Ask for an email before the chat starts, and save.
    admin.check("input[name=prechat_fields][value=email]")
    admin.check("[name=prechat_required]")
    save(admin)
    snippet = copied(admin, "widget-snippet")
    # A customer's site with a strict Content-Security-Policy of its own: no inline styles at all.
    ws = server.url.replace("http://", "ws://")
    policy = f"default-src 'none'; script-src {server.url}; connect-src {ws}; style-src 'self'"
    customer = browser.new_context().new_page()
    customer.goto(
        customer_site(
            f'<!doctype html><meta http-equiv="Content-Security-Policy" content="{policy}">'
            f"<title>Shop</title><h1>Shop</h1>{snippet}"
        )
    )
    widget = customer.locator("#inbox-chat-widget")
    widget.locator(".bubble").click()
    expect(widget.locator(".greeting")).to_have_text("Ask us anything")
    expect(widget.locator(".bubble")).to_have_css("background-color", "rgb(180, 35, 24)")
    expect(widget.locator("textarea")).to_be_disabled()  # the question comes first
    expect(widget.locator("form.prechat input[name=name]")).to_be_hidden()
    widget.locator("form.prechat input[name=email]").fill("lin@example.org")
    widget.get_by_role("button", name="Start chat").click()
    expect(widget.locator("form.prechat")).to_be_hidden()
    widget.locator("textarea").fill("Do you ship to Canada?")
    widget.locator("textarea").press("Enter")
    expect(kim.locator("#conversation-list")).to_contain_text("Do you ship to Canada?")

    admin.goto(f"{server.url}/settings/inboxes/")
    expect(admin.locator(".inboxes tbody tr")).to_have_count(4)
    shot(admin, "settings-inboxes")
    assert elsewhere(lambda: sorted(Inbox.objects.values_list("kind", flat=True))) == [
        "email",
        "messenger",
        "sms",
        "webchat",
    ]


def test_check_connection_reports_success_and_a_clear_failure(
    browser, provider_server, people, twilio, imap_server, smtp_login_server
):
    server = provider_server
    admin = sign_in(browser, server, "ada")
    new_inbox(
        admin,
        server,
        "sms",
        {
            "name": "Texts",
            "account_sid": twilio.account_sid,
            "auth_token": twilio.auth_token,
            "from_number": "+14155550100",
        },
    )
    check_connection(admin)
    expect(admin.locator("#check-results")).to_contain_text("Twilio account: OK. Signed in to 'Acme Support'")
    admin.fill("[name=auth_token]", "a-wrong-token")
    save(admin)
    check_connection(admin)
    expect(admin.locator("#check-results")).to_contain_text("Twilio refused the Account SID or Auth Token")
    admin.reload()
    expect(admin.locator(".health")).to_contain_text("Needs reconnection")

    imap = imap_server.settings
    new_inbox(
        admin,
        server,
        "email",
        {
            "name": "Mail",
            "address": "help@example.com",
            "imap_host": imap["host"],
            "imap_port": str(imap["port"]),
            "imap_username": imap["username"],
            "imap_password": imap["password"],
            "smtp_host": "127.0.0.1",
            "smtp_port": str(smtp_login_server.port),
            "smtp_username": SMTP_USER,
            "smtp_password": SMTP_PASSWORD,
        },
    )
    admin.get_by_label("IMAP over SSL").uncheck()
    admin.select_option("[name=smtp_security]", "none")
    save(admin)
    check_connection(admin)
    expect(admin.locator("#check-results")).to_contain_text("IMAP: OK. Signed in")
    expect(admin.locator("#check-results")).to_contain_text("SMTP: OK. Signed in")
    admin.fill("[name=imap_password]", "not-the-password")
    save(admin)
    check_connection(admin)
    expect(admin.locator("#check-results")).to_contain_text(
        "IMAP: failed. The server refused the username or password."
    )
    shot(admin, "settings-check-connection")


def test_a_deactivated_agents_open_workspace_is_disconnected(browser, asgi_server, people):
    admin = sign_in(browser, asgi_server, "ada")
    kim = sign_in(browser, asgi_server, "kim")
    kim_id = elsewhere(lambda: people[1].pk)
    admin.goto(f"{asgi_server.url}/settings/people/{kim_id}/")
    admin.once("dialog", lambda dialog: dialog.accept())
    admin.get_by_role("button", name="Deactivate").click()
    expect(admin.locator(".flash")).to_contain_text("deactivated and signed out everywhere")
    # Kim's socket is closed as "signed out", and the workspace goes to the login page by itself.
    expect(kim).to_have_url(f"{asgi_server.url}/login/?next=/")
    expect(kim.get_by_role("button", name="Sign in")).to_be_visible()


def test_the_widget_preview_shows_the_saved_look_before_anything_is_edited(browser, asgi_server, people):
    inbox = elsewhere(
        lambda: Inbox.objects.create(
            kind=Inbox.Kind.WEBCHAT,
            name="Website",
            settings={
                "color": "#b42318",
                "greeting": "Saved greeting",
                "prechat_fields": ["email"],
                "prechat_required": True,
            },
        )
    )
    admin = sign_in(browser, asgi_server, "ada")
    admin.goto(f"{asgi_server.url}/settings/inboxes/{inbox.pk}/")
    admin.locator("#widget-preview").scroll_into_view_if_needed()
    preview = admin.frame_locator("#widget-preview")
    bubble = preview.locator("#inbox-chat-widget .bubble")
    expect(bubble).to_have_css("background-color", "rgb(180, 35, 24)")
    bubble.click()
    expect(preview.locator("#inbox-chat-widget .greeting")).to_have_text("Saved greeting")
    expect(preview.locator("#inbox-chat-widget form.prechat input[name=email]")).to_be_visible()


# For each box and radio of a page: how far its label's text starts from it, and whether they share a line.
BOX_GAPS = """() => Array.from(document.querySelectorAll('input[type=checkbox], input[type=radio]'))
  .filter(box => box.labels.length && box.offsetParent)
  .map(box => {
    const label = box.labels[0], range = document.createRange();
    const text = Array.from(label.childNodes).find(node => node.nodeType === 3 && node.textContent.trim());
    range.selectNodeContents(text);
    const b = box.getBoundingClientRect(), t = range.getBoundingClientRect();
    return {name: box.name, gap: t.left - b.right, apart: Math.abs((t.top + t.bottom) / 2 - (b.top + b.bottom) / 2)};
  })"""


def test_settings_forms_keep_each_box_beside_its_label_and_the_invitation_page_reads_down(browser, asgi_server, people):
    admin = sign_in(browser, asgi_server, "ada")
    for path in ("/settings/people/", "/settings/inboxes/new/webchat/"):
        admin.goto(f"{asgi_server.url}{path}")
        gaps = admin.evaluate(BOX_GAPS)
        assert len(gaps) >= 2, f"no boxes found on {path}"
        for box in gaps:
            assert 0 <= box["gap"] <= 16 and box["apart"] <= 6, f"{path}: {box}"
    # An invited person's page: the heading, the words and the form one under the other, not squeezed.
    link = elsewhere(lambda: invitation_url(UserFactory(username="new@example.com", first_name="Noor", password="!")))
    guest = browser.new_page(viewport={"width": 1200, "height": 800})
    guest.goto(link)
    heading, form = guest.locator("h1").bounding_box(), guest.locator("form.card").bounding_box()
    assert form["width"] >= 380 and heading["width"] >= 200
    field = guest.locator("input[type=password]").first.bounding_box()
    assert field["y"] > heading["y"] and field["width"] >= 300
