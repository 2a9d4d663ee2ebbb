"""Security around signing in: lockout after failed attempts, sessions a user can see and end, and
the headers (Content-Security-Policy, HSTS) browsers are sent."""

import asyncio
import os
import re
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.test import Client
from django.utils import timezone

from inbox.accounts.sessions import sessions_revoke_all
from tests.factories import PASSWORD, UserFactory
from tests.helpers import ROOT
from tests.sockets import agent_socket

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
WAIT = "Too many failed sign-in attempts"
MISMATCH = "That username and password do not match"


@pytest.fixture
def make_user(settings):
    """Users whose password checks take microseconds: these tests sign in dozens of times."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return lambda username: UserFactory(username=username, password=make_password(PASSWORD))


@pytest.fixture
def lockout(settings):
    """django-axes as in production (the suite turns it off for the test client's login()); how many
    failed attempts lock a username and address out."""
    settings.AXES_ENABLED = True
    return settings.AXES_FAILURE_LIMIT


def browser(ip="203.0.113.5", agent=FIREFOX) -> Client:
    return Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=agent)


def sign_in(client, username, password=PASSWORD):
    return client.post("/login/", {"username": username, "password": password, "next": "/"})


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


# ---- lockout -------------------------------------------------------------------------------------


def test_lockout_after_repeated_failures_refuses_even_the_right_password_until_the_wait_is_over(db, make_user, lockout):
    make_user("sam")
    client = browser()
    for _ in range(lockout - 1):
        response = sign_in(client, "sam", "wrong")
        assert response.status_code == 200 and MISMATCH in response.content.decode()

    response = sign_in(client, "sam", "wrong")
    page = response.content.decode()
    assert response.status_code == 429
    assert WAIT in page and "Wait 15 minutes" in page and MISMATCH not in page
    assert 'name="password"' in page  # still the login page, with the form

    response = sign_in(client, "sam")  # the right password
    assert response.status_code == 429 and WAIT in response.content.decode()
    assert not signed_in(client)

    # Fifteen minutes later (the attempts' clock moved back rather than the test waiting).
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert sign_in(client, "sam").status_code == 302
    assert signed_in(client)


def test_the_lockout_says_the_same_whether_or_not_the_username_exists(db, make_user, lockout):
    make_user("sam")
    pages = []
    for username in ["sam", "nobody-by-this-name"]:
        client = browser()
        for _ in range(lockout):
            response = sign_in(client, username, "wrong")
        assert response.status_code == 429
        pages.append(re.sub(r"[A-Za-z0-9]{64}", "TOKEN", response.content.decode()))  # CSRF tokens differ
    assert pages[0] == pages[1]


def test_a_locked_pair_holds_up_neither_another_address_nor_another_username(db, make_user, lockout):
    make_user("sam")
    make_user("kim")
    attacker = browser(ip="198.51.100.66")
    for _ in range(lockout):
        sign_in(attacker, "sam", "wrong")
    assert sign_in(attacker, "sam").status_code == 429

    sam_at_the_office = browser(ip="203.0.113.5")
    assert sign_in(sam_at_the_office, "sam").status_code == 302 and signed_in(sam_at_the_office)
    kim_behind_the_same_address = browser(ip="198.51.100.66")
    assert sign_in(kim_behind_the_same_address, "kim").status_code == 302


def test_a_successful_sign_in_forgets_the_typos_before_it(db, make_user, lockout):
    make_user("sam")
    client = browser()
    for _ in range(lockout - 1):
        sign_in(client, "sam", "wrong")
    assert sign_in(client, "sam").status_code == 302
    client.post("/logout/")
    for _ in range(lockout - 1):
        assert sign_in(client, "sam", "wrong").status_code == 200
    assert sign_in(client, "sam").status_code == 302


# ---- sessions ------------------------------------------------------------------------------------


def session_rows(client) -> list[str]:
    page = client.get("/settings/sessions/").content.decode()
    return re.findall(r'<tr data-session-id="\d+".*?</tr>', page, re.S)


def test_the_sessions_page_lists_the_users_own_browsers_only(db, make_user):
    make_user("sam")
    make_user("kim")
    laptop, phone, kims = browser("203.0.113.5", FIREFOX), browser("198.51.100.7", IPHONE), browser("192.0.2.99")
    for client, username in [(laptop, "sam"), (phone, "sam"), (kims, "kim")]:
        assert sign_in(client, username).status_code == 302

    response = laptop.get("/settings/sessions/")
    assert response.status_code == 200
    assert response.context["settings_section"] == "sessions"
    rows = session_rows(laptop)
    assert len(rows) == 2
    laptop_row = next(r for r in rows if "203.0.113.5" in r)
    phone_row = next(r for r in rows if "198.51.100.7" in r)
    assert "Firefox 128 on Windows 10" in laptop_row and "this browser" in laptop_row
    assert "Mobile Safari 17 on iOS 17 (iPhone)" in phone_row and "this browser" not in phone_row
    assert "192.0.2.99" not in response.content.decode()
    assert "Your profile" in laptop.get("/").content.decode()  # linked from the workspace's top bar
    assert "Your sessions" in laptop.get("/settings/profile/").content.decode()  # and from there


def test_the_sessions_page_needs_a_sign_in(db):
    assert Client().get("/settings/sessions/")["Location"].startswith("/login/")


def test_signing_out_another_session_signs_that_browser_out_and_only_it(db, make_user):
    make_user("sam")
    laptop, phone = browser("203.0.113.5", FIREFOX), browser("198.51.100.7", IPHONE)
    sign_in(laptop, "sam")
    sign_in(phone, "sam")
    phone_id = re.search(
        r'<tr data-session-id="(\d+)"[^>]*>\s*<td><span title="[^"]*iPhone',
        laptop.get("/settings/sessions/").content.decode(),
    ).group(1)

    response = laptop.post(f"/settings/sessions/{phone_id}/sign-out/", follow=True)
    assert "That session is signed out." in response.content.decode()
    assert len(session_rows(laptop)) == 1

    response = phone.get("/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/"
    assert signed_in(laptop)


def test_nobody_can_sign_out_someone_elses_session(db, make_user):
    make_user("sam")
    make_user("kim")
    sams, kims = browser(), browser("192.0.2.99")
    sign_in(sams, "sam")
    sign_in(kims, "kim")
    sams_id = re.search(r'data-session-id="(\d+)"', sams.get("/settings/sessions/").content.decode()).group(1)

    response = kims.post(f"/settings/sessions/{sams_id}/sign-out/", follow=True)
    assert "That session had already ended." in response.content.decode()
    assert signed_in(sams)
    assert kims.get(f"/settings/sessions/{sams_id}/sign-out/").status_code == 405  # a GET changes nothing


def test_signing_out_all_other_sessions_keeps_this_one(db, make_user):
    make_user("sam")
    here, elsewhere = browser(), [browser(f"198.51.100.{i}") for i in range(2)]
    for client in [here, *elsewhere]:
        sign_in(client, "sam")

    response = here.post("/settings/sessions/sign-out-others/", follow=True)
    assert "Signed out of 2 other sessions." in response.content.decode()
    assert signed_in(here)
    assert not any(signed_in(client) for client in elsewhere)
    assert len(session_rows(here)) == 1


def test_an_admin_can_sign_a_user_out_everywhere(db, make_user):
    make_user("sam")
    clients = [browser(f"198.51.100.{i}") for i in range(3)]
    for client in clients:
        sign_in(client, "sam")
    user = get_user_model().objects.get(username="sam")

    assert sessions_revoke_all(user=user) == 3
    assert not any(signed_in(client) for client in clients)
    assert sessions_revoke_all(user=user) == 0


def test_signing_out_through_the_page_leaves_no_session_listed(db, make_user):
    make_user("sam")
    one, two = browser(), browser("198.51.100.7")
    sign_in(one, "sam")
    sign_in(two, "sam")
    two.post("/logout/")
    assert len(session_rows(one)) == 1


async def close_within(ws, seconds: float) -> dict | None:
    """The close frame the socket sends within ``seconds``, passing over anything it sends first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await ws.receive_nothing(timeout=0.05):
            continue
        frame = await ws.receive_output()
        if frame["type"] == "websocket.close":
            return frame
    return None


@pytest.mark.django_db(transaction=True)
async def test_a_signed_out_session_loses_its_agent_socket_at_once(make_user):
    await sync_to_async(make_user)("sam")
    laptop, phone = browser(), browser("198.51.100.7", IPHONE)
    await sync_to_async(sign_in)(laptop, "sam")
    await sync_to_async(sign_in)(phone, "sam")
    name = django_settings.SESSION_COOKIE_NAME
    phone_ws, ok1 = await agent_socket(cookie=f"{name}={phone.cookies[name].value}".encode())
    laptop_ws, ok2 = await agent_socket(cookie=f"{name}={laptop.cookies[name].value}".encode())
    assert ok1 and ok2

    response = await sync_to_async(laptop.post)("/settings/sessions/sign-out-others/")
    assert response.status_code == 302

    assert await close_within(phone_ws, 2) == {"type": "websocket.close", "code": 4401}
    assert await close_within(laptop_ws, 0.5) is None  # this browser's own socket stays open
    await laptop_ws.disconnect()


# ---- headers -------------------------------------------------------------------------------------


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_pages_carry_a_content_security_policy_without_inline_code(agent_client, webchat_inbox):
    response = agent_client.get("/")
    csp = directives(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"][0] == "'self'" and csp["style-src"] == ["'self'"] and csp["img-src"] == ["'self'"]
    assert "'self'" in csp["connect-src"] and "ws://testserver" in csp["connect-src"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert not any("unsafe" in source for sources in csp.values() for source in sources)
    # Nothing on the page that such a policy would refuse: inline scripts, handlers, style attributes.
    page = response.content.decode()
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", page)
    assert not re.search(r"\son[a-z]+=", page) and "style=" not in page and "<style" not in page

    secure = agent_client.get("/", secure=True)
    assert "wss://testserver" in directives(secure)["connect-src"]
    assert "Content-Security-Policy" in Client().get("/login/").headers


def test_the_widget_demo_page_may_be_framed_by_our_settings_and_keeps_the_strict_policy(agent_client, webchat_inbox):
    csp = directives(agent_client.get(f"/try/{webchat_inbox.public_token}/"))
    assert csp["frame-ancestors"] == ["'self'"]
    # The widget builds its stylesheet by script: it needs no inline styles, here or on a customer's site.
    assert not any("unsafe" in source for sources in csp.values() for source in sources)


def test_https_responses_carry_hsts_and_plain_http_is_redirected(db, settings):
    settings.SECURE_SSL_REDIRECT = True  # the suite turns it off, the production default is on
    response = Client().get("/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    plain = Client().get("/login/")
    assert plain.status_code == 301 and plain["Location"] == "https://testserver/login/"


def run_with(env: dict, *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "AXES_", "DJANGO_SETTINGS", "DEBUG"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_deploy_check_passes_with_production_settings():
    production = {"DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "inbox.example.com"}
    result = run_with(production, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr.upper()

    # And it would catch a weakened one.
    weakened = run_with({**production, "SECURE_SSL_REDIRECT": "false"}, "check", "--deploy", "--fail-level", "WARNING")
    assert weakened.returncode != 0 and "security.W008" in weakened.stderr
