"""Pages a person lands on when something is wrong: a sentence saying what, and a way back."""

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_missing_page_says_so_and_leads_back(client):
    client.force_login(UserFactory())
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Nothing here" in page and 'href="/"' in page and "Back to your conversations" in page


def test_an_agent_on_an_admin_page_is_told_why_and_led_back(client):
    client.force_login(UserFactory())
    response = client.get("/settings/inboxes/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Only admins can change settings." in page and "Back to your conversations" in page


@pytest.mark.parametrize("debug", [False, True])
def test_an_expired_invitation_says_what_to_do_even_in_debug(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/invite/Mg/not-a-token/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "This invitation link no longer works" in page and "Ask an admin" in page
    assert "Page not found" not in page and "URLconf" not in page  # never Django's debug page


def test_a_server_error_page_needs_nothing_of_what_broke():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page and "Back to your conversations" in page


def test_a_form_sent_without_its_csrf_token_says_the_page_expired_and_leads_back():
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(UserFactory())
    response = browser.post("/logout/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "This page has expired" in page and "Back to your conversations" in page
    assert "CSRF verification failed" not in page  # never Django's own page
