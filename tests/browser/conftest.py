"""Real headless Chromium against the real ASGI server (Daphne) in a subprocess."""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conversations.ingest import message_ingest
from conversations.models import CannedResponse, Label
from inbox.models import Team
from tests.factories import InboxFactory, MembershipFactory, UserFactory
from tests.helpers import ROOT, database_url, elsewhere, inbound

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


@pytest.fixture
def browser(transactional_db, monkeypatch):
    """A fresh Chromium per test, started after the database is ready.

    Playwright's sync API keeps an event loop running in this thread, which Django's async-safety
    check mistakes for async code; the ORM calls here are plain synchronous test code.
    """
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: `make system-packages` installs Debian's package")
        pytest.skip(
            "BROWSER TESTS SKIPPED: Debian's chromium is not installed (apt-get install chromium); "
            "CI installs it, so there they always run"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = CspGuardedBrowser(playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS))
        yield browser
        browser.close()
    if browser.violations:
        pytest.fail(
            "a page broke (a CSP refusal, a console error, an uncaught error):\n" + "\n".join(browser.violations)
        )


# Console errors that mean our page is broken, whatever the test looks at: htmx told of a fragment
# with nowhere to go, and a browser asking for a favicon we do not serve. (Network errors while a test
# stops its server, and the 409s and 429s tests provoke, are what they should be.)
BROKEN_PAGE_SIGNS = ("oobErrorNoTarget", "favicon.ico")


class CspGuardedBrowser:
    """The browser, noting each Content-Security-Policy violation its pages report, and each console
    error that says our page is broken: what a real user would meet, even where the test's own checks
    happen not to look. Uncaught script errors count too."""

    def __init__(self, browser):
        self._browser = browser
        self.violations: list[str] = []

    def __getattr__(self, name):
        return getattr(self._browser, name)

    def new_context(self, **kwargs):
        context = self._browser.new_context(**kwargs)
        context.on("console", self._console)
        context.on(
            "weberror",
            lambda error: self.violations.append(f"uncaught on {error.page and error.page.url}: {error.error}"),
        )
        return context

    def new_page(self, **kwargs):
        page = self._browser.new_page(**kwargs)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.violations.append(f"uncaught on {page.url}: {error!r}"))
        return page

    def _console(self, message):
        if "Content Security Policy" in message.text:
            self.violations.append(f"{message.location.get('url')}: {message.text}")
        elif message.type == "error" and any(
            sign in f"{message.location.get('url')} {message.text}" for sign in BROKEN_PAGE_SIGNS
        ):
            self.violations.append(f"{message.location.get('url')}: {message.text}")


class AsgiServer:
    """The production server, Daphne, on the test database, in its own process; restartable."""

    def __init__(self, env: dict[str, str] | None = None):
        self.extra_env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
            "DATABASE_URL": database_url(),
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "DEBUG": "true",  # a development server: plain-http cookies, static files from the source tree
            "PUBLIC_BASE_URL": self.url,
            "CHANNEL_LAYER_PREFIX": f"browser-test-{self.port}",
            # Scheduled tasks run in the server, and snoozes are checked every second.
            "EMBEDDED_BEAT": "true",
            "SNOOZE_WAKE_SECONDS": "1",
            # Sign-in attempts limited as in production (the in-process suite turns it off, see tests/settings.py).
            "AXES_ENABLED": "true",
            **self.extra_env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "inbox.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def server_with(transactional_db, settings):
    """Start the site with extra environment (``server_with(SLA_SWEEP_SECONDS="1")``), stopped at the end."""
    started = []

    def start(**env) -> AsgiServer:
        server = AsgiServer(env=env)
        settings.PUBLIC_BASE_URL = server.url  # snippets built in the test point at it
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def asgi_server(server_with):
    return server_with()


@pytest.fixture
def customer_site(tmp_path):
    """Serve a page on another origin, standing in for a customer's website."""

    def serve(html: str) -> str:
        (tmp_path / "index.html").write_text(html)
        (tmp_path / "favicon.ico").write_bytes(b"")  # the customer's own; ours are checked for 404s
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/index.html"

    servers = []
    yield serve
    for server in servers:
        server.shutdown()


@pytest.fixture
def team_inbox(transactional_db):
    """One inbox, two agents (Sam and Kim), a label, a team, a canned response, two conversations."""
    inbox = InboxFactory(kind="fake", name="Support")
    for username, first, last in [("sam", "Sam", "Stone"), ("kim", "Kim", "Lee")]:
        MembershipFactory(inbox=inbox, user=UserFactory(username=username, first_name=first, last_name=last))
    Label.objects.create(name="vip", color="#b42318")
    Team.objects.create(name="Billing")
    CannedResponse.objects.create(shortcut="thanks", text="Thank you for writing to us!")
    older = elsewhere(
        message_ingest,
        inbox=inbox,
        inbound=inbound("Where is my parcel?", kind="email", address="ada@example.com", name="Ada Lovelace"),
    )
    newer = elsewhere(
        message_ingest,
        inbox=inbox,
        inbound=inbound("Do you ship to Canada?", kind="email", address="grace@example.com", name="Grace Hopper"),
    )
    return inbox, older.conversation, newer.conversation
