"""Real mail servers on localhost for the email tests: aiosmtpd for SMTP, Debian's dovecot for IMAP."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SmtpRecorder:
    """An aiosmtpd handler that keeps what it accepts and can answer "try later" a few times."""

    received: list[EmailMessage] = field(default_factory=list)
    # Whom each accepted mail was delivered to (RCPT TO): a Bcc is there and in no header.
    envelopes: list[list[str]] = field(default_factory=list)
    refuse_next: int = 0
    attempts: int = 0

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return "451 4.3.0 Mail server busy, try again later"
        self.envelopes.append(list(envelope.rcpt_tos))
        self.received.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 2.0.0 OK queued"


class SmtpServer:
    def __init__(self, port: int | None = None, login: tuple[str, str] | None = None):
        self.recorder = SmtpRecorder()
        self.port = port or free_port()
        options = {}
        if login:
            # AUTH PLAIN/LOGIN required, over plain text: it is localhost (real servers want TLS).
            def authenticator(server, session, envelope, mechanism, auth_data):
                given = (auth_data.login.decode(), auth_data.password.decode())
                return AuthResult(success=given == login, handled=False)

            options = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **options)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 20) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.recorder.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.recorder.received


def use_smtp(settings, port: int) -> None:
    """Point Django's email backend at a local SMTP server (tests otherwise use locmem)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5


SMTP_USER, SMTP_PASSWORD = "support", "smtp-test-password"


@pytest.fixture
def smtp_login_server():
    """An SMTP server that wants a login (an inbox's own server, not the site's)."""
    server = SmtpServer(login=(SMTP_USER, SMTP_PASSWORD)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server(settings):
    server = SmtpServer().start()
    use_smtp(settings, server.port)
    try:
        yield server
    finally:
        server.stop()


DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
MAIL_USER, MAIL_PASSWORD = "support", "imap-test-password"

DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_login_user = {user}
default_internal_group = {group}
first_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


class ImapServer:
    """Dovecot in the foreground with a throwaway mailbox, one user, plain login on 127.0.0.1."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.process = None

    def start(self) -> ImapServer:
        # Dovecot refuses to serve mail as root; mail belongs to an unprivileged system user.
        user = pwd.getpwnam("dovenull" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name)
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "passwd").write_text(f"{MAIL_USER}:{{PLAIN}}{MAIL_PASSWORD}\n")
        conf = DOVECOT_CONF.format(
            root=self.root,
            port=self.port,
            user=user.pw_name,
            group=grp.getgrgid(user.pw_gid).gr_name,
            uid=user.pw_uid,
            gid=user.pw_gid,
        )
        (self.root / "dovecot.conf").write_text(conf)
        if os.geteuid() == 0:
            for sub in ("mail", "home"):
                shutil.chown(self.root / sub, user.pw_uid, user.pw_gid)
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.root / "dovecot.log").read_text() if (self.root / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot exited: {self.process.stderr.read().decode()} {log}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError("dovecot did not start listening")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    @property
    def settings(self) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "ssl": False, "username": MAIL_USER, "password": MAIL_PASSWORD}

    def client(self):
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(MAIL_USER, MAIL_PASSWORD)
        return client

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """A mail arriving in the mailbox, as an MTA's delivery would leave it."""
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw)


@pytest.fixture
def imap_server():
    if not DOVECOT:
        if os.environ.get("CI"):
            pytest.fail("dovecot is missing in CI: `make system-packages` installs Debian's dovecot-imapd")
        pytest.skip(
            "IMAP TESTS SKIPPED: Debian's dovecot-imapd is not installed (apt-get install dovecot-imapd); "
            "CI installs it, so there they always run"
        )
    # Not under pytest's tmp_path: its folders are private to root, and dovecot's processes run as
    # an unprivileged user that must reach the password file and the mailbox.
    root = Path(tempfile.mkdtemp(prefix="inbox-dovecot-"))
    root.chmod(0o755)
    server = ImapServer(root).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
