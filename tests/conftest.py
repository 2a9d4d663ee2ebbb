import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from inbox.celery import app as celery_app
from inbox.connectors import fake
from inbox.connectors.webchat import ratelimit
from tests.factories import InboxFactory, MembershipFactory, UserFactory

# Fixtures that start real servers: smtp_server (aiosmtpd), imap_server (dovecot), twilio (a stand-in).
pytest_plugins = ["tests.mailservers", "tests.providers"]

# Which shape this run tests, said loudly at the top of the output.
BACKEND_LINE = (
    f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
    f"channel layer: {settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[-1]}"
)


def pytest_report_header(config):
    return BACKEND_LINE


def pytest_sessionfinish(session, exitstatus):
    """Leave no litter in the temporary folder: stored attachments, SQLite's WAL side files."""
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
    test_db = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    for suffix in ("-wal", "-shm"):
        if test_db:
            Path(f"{test_db}{suffix}").unlink(missing_ok=True)


@pytest.fixture(autouse=True, scope="session")
def celery_tasks_in_process():
    # Tests have no worker: tasks run right where they are queued (after commit).
    celery_app.conf.task_always_eager = True
    yield


@pytest.fixture(autouse=True)
def fresh_state():
    from django.core.cache import cache

    fake.outbox.clear()
    cache.clear()
    ratelimit.reset()
    yield
    fake.outbox.clear()


@pytest.fixture
def agent(db):
    return UserFactory()


@pytest.fixture
def agent_client(client, agent):
    """The test client, signed in as the agent."""
    client.force_login(agent)
    return client


@pytest.fixture
def webchat_inbox(db, agent):
    inbox = InboxFactory(kind="webchat", name="Website")
    MembershipFactory(inbox=inbox, user=agent)
    return inbox


@pytest.fixture
def fake_inbox(db, agent):
    inbox = InboxFactory(kind="fake", name="Fake")
    MembershipFactory(inbox=inbox, user=agent)
    return inbox


def redis_available() -> bool:
    return bool(os.environ.get("REDIS_URL"))
