"""In real Chromium: an admin sets business hours and an SLA policy, a customer's conversation breaches
live in an agent's workspace, and the Reports page draws its charts with the week's data."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from inbox.connectors.fake import sign
from tests.browser.test_settings import post, save, sign_in
from tests.browser.test_workspace import shot
from tests.conversations.report_week import MONDAY, play
from tests.factories import InboxFactory, MembershipFactory, UserFactory
from tests.helpers import elsewhere, fake_payload

pytestmark = pytest.mark.browser


@pytest.fixture
def sla_server(server_with):
    return server_with(SLA_SWEEP_SECONDS="1")


@pytest.fixture
def team(transactional_db):
    admin = UserFactory(username="ada", first_name="Ada", last_name="Admin", is_staff=True)
    kim = UserFactory(username="kim", first_name="Kim", last_name="Lee")
    inbox = InboxFactory(kind="fake", name="Shop chat")
    for user in (admin, kim):
        MembershipFactory(inbox=inbox, user=user)
    return admin, kim, inbox


def test_an_admin_sets_hours_and_an_sla_and_a_conversation_breaches_live(browser, sla_server, team):
    admin, kim, inbox = team
    ada = sign_in(browser, sla_server, "ada")
    # Business hours: open around the clock, every day (two periods, the second past midnight).
    ada.goto(f"{sla_server.url}/settings/inboxes/{inbox.pk}/")
    ada.get_by_label("Keep business hours").check()
    ada.select_option("[name=time_zone]", "Asia/Kuala_Lumpur")
    week = "\n".join(f"{day} 00:00-12:00 12:00-00:00" for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))
    ada.fill("[name=weekly_hours]", week)
    ada.fill("[name=away_message]", "We are away; we answer from 9:00.")
    save(ada)
    # A policy for this inbox: a first response within 8 seconds of business hours.
    ada.goto(f"{sla_server.url}/settings/service-levels/")
    form = ada.locator("#sla-policy-form")
    form.get_by_label("Name").fill("Live chat")
    form.get_by_label("First response within").fill("8s")
    form.get_by_label("Next response within").fill("1h")
    form.get_by_label("Only in inbox").select_option(label="Shop chat")
    with ada.expect_navigation():
        form.get_by_role("button", name="Add").click()
    expect(ada.locator(".flash")).to_contain_text("Added the SLA policy")
    expect(ada.locator("table.sla-policies")).to_contain_text("Live chat")
    shot(ada, "settings-service-levels")

    kim_page = sign_in(browser, sla_server, "kim")
    body = fake_payload(id="sla-1", text="My order never came", **{"from": "zoe@example.com", "name": "Zoe Ng"})
    assert (
        post(
            f"{sla_server.url}/hooks/fake/{inbox.public_token}/",
            body,
            {"Content-Type": "application/json", "X-Fake-Signature": sign(inbox.secret, body)},
        )
        == 200
    )
    row = kim_page.locator(".conversation-row", has_text="Zoe Ng")
    expect(row.locator(".sla")).to_contain_text(re.compile(r"in \d+ s"))
    row.locator("a").first.click()
    header = kim_page.locator(".conversation-header .sla")
    expect(header).to_contain_text("First response")
    # Eight seconds later it breaches: the badge turns, and Kim is told, once.
    expect(header).to_have_class(re.compile(r"\bbreached\b"), timeout=20000)
    expect(header).to_contain_text("late")
    expect(kim_page.locator("#notif-count")).to_have_text("1", timeout=15000)
    kim_page.locator("#notifications-menu summary").click()
    expect(kim_page.locator("#notification-list")).to_contain_text("First response target breached: Zoe Ng")
    kim_page.wait_for_timeout(2500)  # later sweeps tell nobody again
    expect(kim_page.locator("#notif-count")).to_have_text("1")
    kim_page.locator("#notifications-menu summary").click()  # closed again
    # The Breaching soon view lists it.
    kim_page.locator('#view-counts [data-view="breaching"]').click()
    expect(kim_page).to_have_url(re.compile(r"view=breaching"))
    expect(kim_page.locator('#view-counts .view.active[data-view="breaching"]')).to_contain_text("1")
    expect(kim_page.locator("#conversation-list .conversation-row")).to_have_count(1)
    # The panes keep their places (the view's links once inherited the counts' outerHTML swap).
    expect(kim_page.locator(".panes > nav#list-pane")).to_have_count(1)
    shot(kim_page, "sla-breached")


@pytest.fixture
def quiet_server(server_with):
    """The site without its scheduled tasks: the week happened in November, and today's sweep must not
    breach clocks that the week itself stops in time."""
    return server_with(EMBEDDED_BEAT="false")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_reports_page_draws_its_charts_with_the_weeks_data(
    browser, quiet_server, client, django_capture_on_commit_callbacks, scheme
):
    asgi_server = quiet_server
    elsewhere(lambda: play(client, django_capture_on_commit_callbacks))
    elsewhere(lambda: UserFactory(username="lead", first_name="Lea", is_staff=True))
    context = browser.new_context(viewport={"width": 1400, "height": 1700}, color_scheme=scheme)
    page = context.new_page()
    page.goto(f"{asgi_server.url}/login/")
    page.fill("input[name=username]", "lead")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    last = (MONDAY + timedelta(days=6)).date().isoformat()
    page.goto(f"{asgi_server.url}/reports/?from={MONDAY.date().isoformat()}&to={last}&tz=UTC")
    expect(page.locator('[data-figure="opened"]')).to_have_text("5")
    expect(page.locator('[data-figure="first_response"]')).to_have_text("20 min")
    expect(page.locator('[data-figure="csat"]')).to_have_text("67%")
    for chart in ("volume", "channels", "sla", "csat", "heatmap"):
        expect(page.locator(f"#chart-{chart} svg")).to_be_visible()
    expect(page.locator("#chart-volume rect.bar-in")).to_have_count(7)
    assert page.locator("#chart-heatmap rect.heat[fill-opacity='1.0']").count() == 1  # Monday 10:00, the busiest
    expect(page.locator("#table-channels")).to_contain_text("Website chat")
    expect(page.locator("#table-channels tr", has_text="SLA met: First response")).to_contain_text("60%")
    # A chart's table, for screen readers, shows on request.
    button = page.locator("#chart-csat [data-toggle-table]")
    button.click()
    expect(page.locator("#table-csat")).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    # Business hours: B's 17 hours are one hour of the email inbox's.
    page.get_by_label("Business hours").check()
    expect(page).to_have_url(re.compile(r"clock=business"))
    expect(page.locator('[data-figure="first_resolution"]')).to_have_text("2 h")
    page.get_by_label("Calendar time").check()
    expect(page.locator('[data-figure="first_resolution"]')).to_have_text("3 h")
    shot(page, "reports" if scheme == "light" else "reports-dark")
    context.close()
