import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.db import connection
from django.utils import timezone

from inbox.connectors.contract import IdentityClaim, InboundMessage
from inbox.connectors.fake import sign

# The repository, and ../shared beside it: real-world test data (read-only).
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def inbound(text="Hello", *, address="visitor-1", kind="webchat", external_id=None, name="", **extra) -> InboundMessage:
    return InboundMessage(
        external_id=external_id or uuid.uuid4().hex,
        sender=IdentityClaim(kind=kind, address=address, display=address),
        text=text,
        sent_at=timezone.now(),
        customer_name=name,
        **extra,
    )


def fake_payload(**fields) -> bytes:
    body = {"type": "message", "id": uuid.uuid4().hex, "from": "ada@example.com", "name": "Ada", "text": "Hi"}
    body.update(fields)
    return json.dumps(body).encode()


def post_fake_webhook(client, inbox, body: bytes, *, secret=None):
    return client.post(
        f"/hooks/fake/{inbox.public_token}/",
        data=body,
        content_type="application/json",
        headers={"X-Fake-Signature": sign(secret or inbox.secret, body)},
    )


def database_url() -> str:
    """The test database, as a URL for the server and worker processes a test starts."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    return (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )


def run_concurrently(*calls) -> None:
    """Start every call at the same moment, each in its own thread with its own connection."""
    barrier = threading.Barrier(len(calls))
    errors = []

    def run(call):
        try:
            barrier.wait()
            call()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def elsewhere(fn, **kwargs):
    """Run server-side code off Playwright's thread, as another process of ours would."""

    def call():
        try:
            return fn(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()
