import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.models import Conversation, ConversationFact
from inbox.connectors.webchat.connector import identity_hash
from inbox.models import Inbox
from tests.helpers import ROOT


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    """Import the site's own settings in a fresh process with nothing but ``env`` configured."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "inbox.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_embedded_default_needs_no_server():
    result = run_python(
        "from django.conf import settings as s; import inbox.settings;"
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], s.CELERY_TASK_ALWAYS_EAGER)",
        DEBUG="true",
    )
    assert result.stdout.split() == ["django.db.backends.sqlite3", "channels.layers.InMemoryChannelLayer", "True"]


def test_urls_switch_to_production_shape():
    result = run_python(
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'],"
        " s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BROKER_URL)",
        DATABASE_URL="postgres://u@db:5432/inbox",
        REDIS_URL="redis://cache:6379/0",
        DEBUG="true",
    )
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "channels_redis.pubsub.RedisPubSubChannelLayer",
        "False",
        "redis://cache:6379/0",
    ]


def test_development_key_refuses_to_run_with_debug_off():
    result = run_python("import django; django.setup()", DEBUG="False")
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr
    unset = run_python("import django; django.setup()")  # DEBUG is off unless asked for
    assert "Set SECRET_KEY" in unset.stderr
    ok = run_python("import django; django.setup(); print('ok')", DEBUG="False", SECRET_KEY="x" * 50)
    assert ok.stdout.strip() == "ok", ok.stderr


@pytest.mark.django_db
def test_credentials_are_encrypted_at_rest():
    inbox = Inbox.objects.create(kind="fake", name="x", credentials={"api_key": "sk-very-secret"})
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, credentials FROM inbox_inbox WHERE id = %s", [inbox.pk])
        secret_raw, credentials_raw = cursor.fetchone()
    assert "sk-very-secret" not in str(credentials_raw)
    assert inbox.secret not in str(secret_raw)
    assert Inbox.objects.get(pk=inbox.pk).credentials == {"api_key": "sk-very-secret"}


@pytest.mark.django_db
def test_inbox_create_prints_one_json_object(capsys, agent):
    call_command(
        "inbox",
        "create",
        "--kind",
        "webchat",
        "--name",
        "Shop",
        "--set",
        'allowed_origins=["https://shop.example"]',
        "--set",
        "on_resolved_reply=new",
        "--member",
        agent.username,
    )
    data = json.loads(capsys.readouterr().out)
    inbox = Inbox.objects.get(pk=data["id"])
    assert data["kind"] == "webchat" and data["public_token"] == inbox.public_token
    assert inbox.public_token in data["widget_snippet"] and "<script" in data["widget_snippet"]
    assert data["identity_secret"] == inbox.secret  # shown once, at creation
    assert inbox.settings == {"allowed_origins": ["https://shop.example"]}
    assert inbox.on_resolved_reply == "new"
    assert list(inbox.members.all()) == [agent]
    assert identity_hash(data["identity_secret"], "a@b.c") == identity_hash(inbox.secret, "a@b.c")


@pytest.mark.django_db
def test_inbox_create_for_a_webhook_kind_prints_its_url(capsys):
    call_command("inbox", "create", "--kind", "fake", "--name", "Hook")
    data = json.loads(capsys.readouterr().out)
    assert data["webhook_url"].endswith(f"/hooks/fake/{data['public_token']}/")
    assert data["webhook_secret"] == Inbox.objects.get().secret


@pytest.mark.django_db
def test_inbox_list_never_prints_secrets(capsys):
    call_command("inbox", "create", "--kind", "fake", "--name", "Hook")
    call_command("inbox", "create", "--kind", "webchat", "--name", "Chat")
    capsys.readouterr()
    call_command("inbox", "list")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["name"] for d in lines] == ["Hook", "Chat"]
    for inbox in Inbox.objects.all():
        assert inbox.secret not in json.dumps(lines)


@pytest.mark.django_db
def test_inbox_create_refuses_unknown_member():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no such user"):
        call_command("inbox", "create", "--kind", "fake", "--name", "Hook", "--member", "ghost")
    assert Inbox.objects.count() == 0


@pytest.mark.django_db
def test_demo_refuses_to_create_a_known_login_on_a_production_site(settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("demo")


@pytest.mark.django_db
def test_demo_prepares_a_ready_to_try_site_and_can_run_twice(capsys, django_capture_on_commit_callbacks, settings):
    settings.DEBUG = True
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo")
        call_command("demo")
    out = capsys.readouterr().out
    assert "admin / inbox-demo" in out
    # Every kind a person can connect; the test suite's own connector stays out of sight.
    assert set(Inbox.objects.values_list("kind", flat=True)) == set(Inbox.Kind.values) - {Inbox.Kind.FAKE}
    from inbox.management.commands.demo import SAMPLES

    # Once, though run twice: the samples open and resolved past weeks behind them, whose figures the
    # Reports page shows.
    assert Conversation.objects.exclude(status="resolved").count() == len(SAMPLES)
    past = Conversation.objects.filter(created_at__lt=timezone.now() - timedelta(days=1))
    assert past.count() > 100 and ConversationFact.objects.filter(conversation__in=past).count() == past.count()
    from django.test import Client

    client = Client()
    assert client.login(username="admin", password="inbox-demo")
    workspace = client.get("/").content.decode()
    assert "Ada Lovelace" in workspace and "Test channel" not in workspace and "Fake" not in workspace
    assert "Test channel" not in client.get("/settings/people/").content.decode()
    # Without credentials, SMS and Messenger say they are not connected, and what to add.
    inboxes = client.get("/settings/inboxes/").content.decode()
    assert "Not connected: add the Twilio Account SID and Auth Token" in inboxes
    assert "Not connected: add the Facebook page" in inboxes
    reports = client.get("/reports/?range=90d").content.decode()
    assert 'data-figure="opened">0<' not in reports and "Satisfied customers" in reports


@pytest.mark.django_db
def test_the_demo_clears_away_the_test_inbox_earlier_demos_made(settings, django_capture_on_commit_callbacks):
    from tests.factories import ConversationFactory, InboxFactory, MessageFactory

    settings.DEBUG = True
    old = InboxFactory(kind=Inbox.Kind.FAKE, name="Test channel")
    MessageFactory(conversation=ConversationFactory(inbox=old))  # what earlier demos put in it
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo")
    assert not Inbox.objects.filter(kind=Inbox.Kind.FAKE).exists()


def test_encrypted_credentials_keep_their_types_and_read_old_values(db):
    from django.db import connection

    from inbox.models import Inbox
    from tests.factories import InboxFactory

    inbox = InboxFactory(kind="email", credentials={"imap": {"port": 993, "ssl": False, "password": "s3cret"}})
    stored = Inbox.objects.get(pk=inbox.pk)
    assert stored.credentials == {"imap": {"port": 993, "ssl": False, "password": "s3cret"}}
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_inbox WHERE id = %s", [inbox.pk])
        raw = cursor.fetchone()[0]
    assert "s3cret" not in str(raw) and "993" not in str(raw)  # encrypted at rest

    # A value stored the library's own way (str(value), unmarked) still reads, as that string.
    field = Inbox._meta.get_field("credentials")
    legacy = {"previous_secrets": [field.f.encrypt(b"123456").decode()]}
    assert field._decrypt_values(legacy) == {"previous_secrets": ["123456"]}
