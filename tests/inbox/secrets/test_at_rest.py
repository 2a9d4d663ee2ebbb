"""Channel credentials are unreadable in a database dump and in the logs: the tests look.

Inboxes of every kind are made with distinctive secrets; then the tests read what an attacker or a
careless admin would read (``dumpdata``, the database file or ``pg_dump``, everything logged or
printed while credentials are used and refused, the admin's pages) and grep for them. Last, the key
the credentials are encrypted under is rotated, and the old key dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse
from encrypted_fields.fields import EncryptedFieldMixin
from twilio.request_validator import RequestValidator

from conversations.ingest import message_ingest
from conversations.models import Message
from conversations.replies import message_reply
from inbox.administration.inboxes.services import inbox_create, inbox_describe, inbox_secret_rotate
from inbox.connectors.email.imap import imap_poll
from inbox.connectors.email.tasks import imap_poll_task
from inbox.connectors.messenger.connector import signature_of
from inbox.models import ImapCursor, Inbox
from tests.helpers import inbound
from tests.mailservers import free_port

PUBLIC_BASE_URL = "https://inbox.shop.example"

# Distinctive values, long enough that a match is never a coincidence.
WEBCHAT_SECRET = "webchat-identity-secret-Q7m2Xv9Lp4Rk"
EMAIL_SECRET = "email-webhook-secret-H3n8Wd5Ty1Bz"
IMAP_PASSWORD = "imap-password-Jr6Fs2Nq8Vc4"
SMTP_PASSWORD = "smtp-password-Ge9Lk3Pw7Ux5"
SIGNING_KEY = "mailgun-signing-key-Zb4Tq8Mh2Yd6"
SMS_SECRET = "sms-webhook-secret-Kc5Rv1Xs9Ne3"
TWILIO_SID = "AC" + "5e" * 16
TWILIO_TOKEN = "twilio-auth-token-Wm7Dj3Ha8Qf2"
MESSENGER_SECRET = "messenger-webhook-secret-Pt2Ly6Cb4Vk8"
PAGE_TOKEN = "EAAG-page-access-token-Nx8Sg5Rm1Jw7"
APP_SECRET = "meta-app-secret-Fd3Kq9Zt6Ha2"
VERIFY_TOKEN = "meta-verify-token-Ub1Ye7Wn4Lc9"
# Also read in their places: the name shows that a dump or a page *does* hold the inbox.
INBOX_NAMES = {"webchat": "Website chat Vq2", "email": "Support mail Vq2", "sms": "Texts Vq2", "messenger": "Page Vq2"}

SECRETS = [
    WEBCHAT_SECRET,
    EMAIL_SECRET,
    IMAP_PASSWORD,
    SMTP_PASSWORD,
    SIGNING_KEY,
    SMS_SECRET,
    TWILIO_TOKEN,
    MESSENGER_SECRET,
    PAGE_TOKEN,
    APP_SECRET,
    VERIFY_TOKEN,
]


def create_inboxes(imap: dict | None = None, smtp: dict | None = None) -> dict[str, Inbox]:
    """One inbox of each kind, the way ``manage.py inbox create`` makes them."""
    imap = imap or {"host": "imap.shop.example", "port": 993, "ssl": True, "username": "support", "folder": "INBOX"}
    smtp = smtp or {"host": "smtp.shop.example", "port": 587, "security": "starttls", "username": "support"}
    return {
        "webchat": inbox_create(kind="webchat", name=INBOX_NAMES["webchat"], options={"secret": WEBCHAT_SECRET}),
        "email": inbox_create(
            kind="email",
            name=INBOX_NAMES["email"],
            options={
                "secret": EMAIL_SECRET,
                "address": "support@shop.example",
                "credentials.imap": json.dumps({**imap, "password": IMAP_PASSWORD}),
                "credentials.smtp": json.dumps({**smtp, "password": SMTP_PASSWORD}),
                "credentials.inbound_signing_key": SIGNING_KEY,
            },
        ),
        "sms": inbox_create(
            kind="sms",
            name=INBOX_NAMES["sms"],
            options={
                "secret": SMS_SECRET,
                "from_number": "+15017122661",
                "credentials.account_sid": TWILIO_SID,
                "credentials.auth_token": TWILIO_TOKEN,
            },
        ),
        "messenger": inbox_create(
            kind="messenger",
            name=INBOX_NAMES["messenger"],
            options={
                "secret": MESSENGER_SECRET,
                "page_id": "104857600000000",
                "credentials.page_access_token": PAGE_TOKEN,
                "credentials.app_secret": APP_SECRET,
                "credentials.verify_token": VERIFY_TOKEN,
            },
        ),
    }


def every_secret(inboxes: dict[str, Inbox]) -> list[str]:
    """The fixed ones, and whatever secrets the inboxes hold now (a rotation makes new ones)."""
    found = set(SECRETS)
    for inbox in Inbox.objects.filter(pk__in=[i.pk for i in inboxes.values()]):
        found.update(s for s in inbox.secrets if s)
    return sorted(found)


def assert_no_secret(text: str | bytes, where: str, secrets=SECRETS) -> None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for secret in secrets:
        assert secret not in text, f"{where} shows the credential {secret!r}"


def admin_client() -> Client:
    admin = get_user_model().objects.create_superuser("root", "root@shop.example", "root-password-for-tests")
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def inboxes(db):
    created = create_inboxes()
    # A rotation keeps the previous secret (under credentials) while websites switch over.
    inbox_secret_rotate(inbox=created["webchat"], actor=None)
    return created


# ---- the dump ----------------------------------------------------------------------------------


def test_the_inboxes_do_hold_their_credentials(inboxes):
    """The control for everything below: the secrets are there, and work, when read as the site does."""
    email = Inbox.objects.get(pk=inboxes["email"].pk)
    assert email.secret == EMAIL_SECRET and email.credentials["imap"]["password"] == IMAP_PASSWORD
    assert email.credentials["imap"]["port"] == 993 and email.credentials["imap"]["ssl"] is True
    assert Inbox.objects.get(pk=inboxes["sms"].pk).credentials["auth_token"] == TWILIO_TOKEN
    webchat = Inbox.objects.get(pk=inboxes["webchat"].pk)
    assert webchat.secrets[1] == WEBCHAT_SECRET and webchat.secret != WEBCHAT_SECRET


@pytest.mark.parametrize("fmt", ["json", "xml", "jsonl"])
def test_dumpdata_holds_no_credential(inboxes, fmt):
    out = io.StringIO()
    call_command("dumpdata", format=fmt, stdout=out)
    dump = out.getvalue()
    assert INBOX_NAMES["email"] in dump  # the control: this is the dump of these inboxes
    assert_no_secret(dump, f"manage.py dumpdata --format={fmt}", every_secret(inboxes))


def test_a_dump_loads_back_with_working_credentials(inboxes, tmp_path):
    """A dump is for restoring: what it holds instead of the secrets must read back as them."""
    fixture = tmp_path / "inboxes.json"
    call_command("dumpdata", "inbox.inbox", output=str(fixture))
    Inbox.objects.update(name="changed")
    for inbox in Inbox.objects.all():
        inbox.secret, inbox.credentials = "changed", {"changed": True}
        inbox.save()
    call_command("loaddata", str(fixture), verbosity=0)
    email, sms = Inbox.objects.get(pk=inboxes["email"].pk), Inbox.objects.get(pk=inboxes["sms"].pk)
    assert email.name == INBOX_NAMES["email"] and email.secret == EMAIL_SECRET
    assert email.credentials["imap"] == {
        "host": "imap.shop.example",
        "port": 993,
        "ssl": True,
        "username": "support",
        "folder": "INBOX",
        "password": IMAP_PASSWORD,
    }
    assert sms.credentials == {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}
    assert Inbox.objects.get(pk=inboxes["webchat"].pk).secrets[1] == WEBCHAT_SECRET


@pytest.mark.django_db(transaction=True)
def test_the_database_itself_holds_only_ciphertext():
    """What a stolen backup holds: the SQLite file's bytes, or PostgreSQL's own pg_dump."""
    inboxes = create_inboxes()
    inbox_secret_rotate(inbox=inboxes["webchat"], actor=None)
    secrets = every_secret(inboxes)
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        connection.close()  # nothing held back in this connection
        path = Path(settings["NAME"])
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        where = f"the SQLite database file {path}"
    elif connection.vendor == "postgresql":
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            pytest.skip("PG_DUMP TEST SKIPPED: the pg_dump binary is not installed (apt-get install postgresql-client)")
        command = [
            pg_dump,
            "--host",
            settings["HOST"] or "127.0.0.1",
            "--port",
            str(settings["PORT"] or 5432),
            "--username",
            settings["USER"] or "postgres",
            "--no-password",
            "--data-only",
            settings["NAME"],
        ]
        env = {**os.environ, **({"PGPASSWORD": settings["PASSWORD"]} if settings.get("PASSWORD") else {})}
        done = subprocess.run(command, capture_output=True, env=env, timeout=120)
        assert done.returncode == 0, f"pg_dump failed: {done.stderr.decode(errors='replace')}"
        raw = done.stdout
        where = f"pg_dump of {settings['NAME']}"
    else:
        pytest.skip(f"RAW DATABASE TEST SKIPPED: no way to read a {connection.vendor} database's raw contents here")
    assert INBOX_NAMES["email"].encode() in raw, f"the control: {where} does not hold the inboxes"
    assert_no_secret(raw, where, secrets)


# ---- the logs, while credentials are used and refused -----------------------------------------


@pytest.fixture
def everything_logged(caplog, capfd):
    """Every log record at DEBUG from every logger, with exceptions and stacks, and all printed output."""
    caplog.set_level(logging.DEBUG)
    formatter = logging.Formatter()

    def text() -> str:
        parts = []
        for record in caplog.records:
            parts.append(record.getMessage())
            if record.exc_info:
                parts.append(formatter.formatException(record.exc_info))
                parts.append(repr(record.exc_info[1]))
            if record.exc_text:
                parts.append(record.exc_text)
            if record.stack_info:
                parts.append(record.stack_info)
            parts.append(repr(record.args))
        out, err = capfd.readouterr()
        return "\n".join([*parts, caplog.text, out, err])

    return text


def stored_texts() -> str:
    """What failures leave in the database for people to read (a failed reply's reason, the inbox's
    health, the mailbox cursor's last error): dumped, as an admin would see them."""
    out = io.StringIO()
    call_command("dumpdata", "conversations.message", "inbox", stdout=out)
    return out.getvalue()


def test_webhooks_with_wrong_signatures_log_no_credential(inboxes, client, settings, everything_logged):
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    sms, messenger, email = inboxes["sms"], inboxes["messenger"], inboxes["email"]

    fields = {"MessageSid": "SM" + "1" * 32, "From": "+14155550123", "To": "+15017122661", "Body": "hi"}
    path = f"/hooks/sms/{sms.public_token}/"
    forged = RequestValidator("not-the-token").compute_signature(PUBLIC_BASE_URL + path, fields)
    response = client.post(
        path,
        urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": forged},
    )
    assert response.status_code == 403

    body = json.dumps({"object": "page", "entry": []}).encode()
    path = f"/hooks/messenger/{messenger.public_token}/"
    for signature in (signature_of("not-the-secret", body), "", "sha256=zz"):
        response = client.post(path, body, content_type="application/json", headers={"X-Hub-Signature-256": signature})
        assert response.status_code == 403
    handshake = {"hub.mode": "subscribe", "hub.verify_token": "a-guess", "hub.challenge": "1"}
    assert client.get(path, handshake).status_code == 403

    path = f"/hooks/email/{email.public_token}/"
    for password in ("wrong", EMAIL_SECRET[:-1]):
        auth = "Basic " + base64.b64encode(f"inbox:{password}".encode()).decode()
        response = client.post(
            path, b"From: a@b.example\r\n\r\nhi", content_type="message/rfc822", headers={"Authorization": auth}
        )
        assert response.status_code == 403

    timestamp, token = str(int(time.time())), "t" * 50
    wrong = hmac.new(b"not-the-key", f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    mailgun = {"body-mime": "From: a@b.example\r\n\r\nhi", "timestamp": timestamp, "token": token, "signature": wrong}
    assert client.post(f"/hooks/email/{email.public_token}/mailgun/", mailgun).status_code == 403

    assert_no_secret(everything_logged(), "the log of refused webhooks", every_secret(inboxes))


def test_sends_refused_by_the_provider_log_and_store_no_credential(
    inboxes, twilio, graph, agent, settings, everything_logged, django_capture_on_commit_callbacks
):
    """Twilio answers 401 to a wrong auth token, Meta 190 to a wrong page token, and then Meta is
    unreachable altogether: the failed replies say why, and nothing says the credentials."""
    sms, messenger = inboxes["sms"], inboxes["messenger"]
    twilio.account_sid = TWILIO_SID  # the stand-in knows the account, but another token
    texted = message_ingest(inbox=sms, inbound=inbound("hi", kind="phone", address="+14155550123"))
    wrote = message_ingest(inbox=messenger, inbound=inbound("hi", kind="messenger", address="6789012345678901"))
    with django_capture_on_commit_callbacks(execute=True):
        refused_sms = message_reply(conversation=texted.conversation, author=agent, text="Ready!")
    with django_capture_on_commit_callbacks(execute=True):
        refused_page = message_reply(conversation=wrote.conversation, author=agent, text="Ready!")
    settings.GRAPH_API_BASE_URL = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    with django_capture_on_commit_callbacks(execute=True):
        unreachable = message_reply(conversation=wrote.conversation, author=agent, text="Still there?")

    failed = {m.pk: m for m in Message.objects.filter(pk__in=[refused_sms.pk, refused_page.pk, unreachable.pk])}
    assert all(m.status == Message.Status.FAILED for m in failed.values()), failed
    assert "20003" in failed[refused_sms.pk].status_detail  # Twilio's "Authenticate"
    assert "190" in failed[refused_page.pk].status_detail
    assert "Meta refused the connection" in failed[unreachable.pk].status_detail
    for message in failed.values():
        assert_no_secret(message.status_detail, f"the reason shown for failed reply #{message.pk}")
    assert_no_secret(everything_logged(), "the log of refused sends", every_secret(inboxes))
    assert_no_secret(stored_texts(), "what the refused sends stored", every_secret(inboxes))


def test_an_imap_login_refused_by_a_real_server_logs_no_password(imap_server, db, everything_logged):
    inboxes = create_inboxes(imap={**imap_server.settings, "folder": "INBOX"})
    email = inboxes["email"]
    with pytest.raises(Exception, match="(?i)auth|login"):
        imap_poll(email)
    imap_poll_task(email.pk)  # as beat runs it: the failure is logged and kept on the cursor
    cursor = ImapCursor.objects.get(inbox=email)
    assert cursor.last_error  # the admin sees why
    assert_no_secret(cursor.last_error, "the IMAP cursor's last error")
    assert_no_secret(everything_logged(), "the log of a refused IMAP login", every_secret(inboxes))


def test_an_smtp_login_refused_by_a_real_server_logs_no_password(
    smtp_login_server, db, agent, everything_logged, django_capture_on_commit_callbacks
):
    smtp = {"host": "127.0.0.1", "port": smtp_login_server.port, "security": "none", "username": "support"}
    inboxes = create_inboxes(smtp=smtp)
    mail = message_ingest(inbox=inboxes["email"], inbound=inbound("hi", kind="email", address="ada@example.com"))
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_reply(conversation=mail.conversation, author=agent, text="Hello Ada")
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED and reply.status_detail
    assert smtp_login_server.recorder.received == []
    assert_no_secret(reply.status_detail, "the reason shown for the failed email reply")
    assert_no_secret(everything_logged(), "the log of a refused SMTP login", every_secret(inboxes))


def test_check_connection_says_what_failed_and_never_the_credential(
    imap_server, twilio, graph, db, settings, everything_logged
):
    """The settings' "Check connection", as an admin clicks it, against servers that refuse."""
    client = admin_client()
    inboxes = create_inboxes(imap={**imap_server.settings, "folder": "INBOX"})
    twilio.account_sid = TWILIO_SID
    pages = []
    for kind in ("email", "sms", "messenger"):
        response = client.post(reverse("settings:inbox_check", args=[inboxes[kind].pk]), follow=True)
        assert response.status_code == 200
        pages.append(response.content.decode())
    assert "refused" in "".join(pages)  # the control: the checks ran and failed
    assert_no_secret("".join(pages), "the check connection results", every_secret(inboxes))
    assert_no_secret(stored_texts(), "the inboxes' recorded health", every_secret(inboxes))
    assert_no_secret(everything_logged(), "the log of check connection", every_secret(inboxes))


def test_the_command_line_prints_no_credential_unless_asked(inboxes, everything_logged):
    out = io.StringIO()
    call_command("inbox", "list", stdout=out)
    listed = out.getvalue()
    assert INBOX_NAMES["sms"] in listed
    described = json.dumps([inbox_describe(inbox) for inbox in Inbox.objects.all()])
    for text, where in ((listed, "manage.py inbox list"), (described, "inbox_describe")):
        assert_no_secret(text, where, every_secret(inboxes))
    assert_no_secret(everything_logged(), "the log of the inbox command", every_secret(inboxes))
    # Creating one prints its webhook secret once, on purpose: it must be pasted at the provider.
    out = io.StringIO()
    call_command(
        "inbox", "create", "--kind", "fake", "--name", "Once", "--set", "credentials.token=tok-Zq8", stdout=out
    )
    created = json.loads(out.getvalue())
    assert created["webhook_secret"] == Inbox.objects.get(pk=created["id"]).secret
    assert "tok-Zq8" not in out.getvalue()  # credentials are never printed back


def test_the_django_admin_never_shows_a_credential_back(inboxes, everything_logged):
    client = admin_client()
    pages = {
        "changelist": client.get(reverse("admin:inbox_inbox_changelist")),
        "add": client.get(reverse("admin:inbox_inbox_add")),
    }
    for kind, inbox in inboxes.items():
        pages[kind] = client.get(reverse("admin:inbox_inbox_change", args=[inbox.pk]))
    for where, page in pages.items():
        assert page.status_code == 200
        assert_no_secret(page.content, f"the admin's {where} page", every_secret(inboxes))
    assert "ending in" in pages["email"].content.decode()  # a hint the admin can recognise


def test_saving_in_the_django_admin_keeps_credentials_left_blank(inboxes):
    client = admin_client()
    sms = inboxes["sms"]
    url = reverse("admin:inbox_inbox_change", args=[sms.pk])
    form = {
        "kind": "sms",
        "name": "Texts renamed",
        "is_active": "on",
        "on_resolved_reply": "reopen",
        "reopen_within_days": "",
        "needs_reconnection": "",
        "settings": json.dumps({"from_number": "+15017122661"}),
        "secret": "",
        "credentials": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    sms.refresh_from_db()
    assert sms.name == "Texts renamed" and sms.secret == SMS_SECRET
    assert sms.credentials == {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}
    # A new value typed in replaces the old.
    response = client.post(url, {**form, "secret": "a-new-secret-typed-in-Zz9", "credentials": '{"auth_token": "t2"}'})
    assert response.status_code == 302
    sms.refresh_from_db()
    assert sms.secret == "a-new-secret-typed-in-Zz9" and sms.credentials == {"auth_token": "t2"}


def test_the_settings_pages_never_show_a_credential_back(inboxes):
    """Admins' own settings pages: a hint, never the value (the verify token excepted: the admin
    types it into Meta's form, and it authenticates nothing on its own)."""
    client = admin_client()
    shown_on_purpose = {VERIFY_TOKEN}
    secrets = [s for s in every_secret(inboxes) if s not in shown_on_purpose]
    pages = [client.get(reverse("settings:inbox_list"))]
    pages += [client.get(reverse("settings:inbox_detail", args=[inbox.pk])) for inbox in inboxes.values()]
    for page in pages:
        assert page.status_code == 200
        assert_no_secret(page.content, f"the settings page {page.wsgi_request.path}", secrets)


# ---- rotating the key they are encrypted under ----------------------------------------------------

OLD_KEY = "old-secret-key-for-tests-" + "o" * 40
NEW_KEY = "new-secret-key-for-tests-" + "n" * 40


def encrypted_fields():
    return [
        field
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedFieldMixin)
    ]


@pytest.fixture
def keys(settings):
    """Set SECRET_KEY and its fallbacks as a deployment would, and make the fields see the change
    (they derive their keys once per process)."""

    def forget():
        for field in encrypted_fields():
            field.__dict__.pop("keys", None)
            field.__dict__.pop("f", None)

    def use(key: str, fallbacks: list[str] = ()):
        settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = key, list(fallbacks)
        forget()

    yield use
    forget()  # the settings fixture restores the keys; the fields derive them again


def read_back(inboxes: dict[str, Inbox]) -> dict:
    return {
        kind: (fresh.secret, fresh.credentials)
        for kind, fresh in ((k, Inbox.objects.get(pk=i.pk)) for k, i in inboxes.items())
    }


def test_rotating_the_secret_key_keeps_credentials_readable_and_the_old_key_can_go(db, keys):
    keys(OLD_KEY)
    inboxes = create_inboxes()
    before = read_back(inboxes)
    assert before["email"][1]["imap"]["password"] == IMAP_PASSWORD

    # The new key in front, the old one kept as a fallback: everything still reads.
    keys(NEW_KEY, [OLD_KEY])
    assert read_back(inboxes) == before
    out = io.StringIO()
    call_command("rotate_credentials", stdout=out)
    assert "4 inboxes" in out.getvalue()

    # The old key dropped: everything reads, now under the new key alone.
    keys(NEW_KEY)
    assert read_back(inboxes) == before
    call_command("rotate_credentials", "--check", stdout=io.StringIO())  # nothing left under an old key


def test_without_re_encrypting_dropping_the_old_key_loses_the_credentials(db, keys):
    """Why the command exists: fallbacks only decrypt; what was written under the old key stays so."""
    keys(OLD_KEY)
    inboxes = create_inboxes()
    keys(NEW_KEY, [OLD_KEY])
    with pytest.raises(CommandError, match="4 inboxes"):
        call_command("rotate_credentials", "--check", stdout=io.StringIO())
    keys(NEW_KEY)
    assert Inbox.objects.get(pk=inboxes["email"].pk).secret != EMAIL_SECRET


def test_re_encrypting_refuses_to_touch_what_no_key_can_read(db, keys):
    """A key dropped too early: the command says which inboxes, and changes nothing (re-saving what
    the library could not decrypt would bury the ciphertext under a second encryption)."""
    keys(OLD_KEY)
    inboxes = create_inboxes()
    keys(NEW_KEY)  # the old key forgotten
    with pytest.raises(CommandError, match="cannot decrypt"):
        call_command("rotate_credentials", stdout=io.StringIO())
    keys(NEW_KEY, [OLD_KEY])  # the old key back: nothing was lost
    assert read_back(inboxes)["email"][0] == EMAIL_SECRET
