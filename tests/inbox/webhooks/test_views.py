import pytest

from conversations.models import InboundEvent, Message
from tests.factories import InboxFactory
from tests.helpers import fake_payload, post_fake_webhook

pytestmark = pytest.mark.django_db


def test_signed_webhook_is_stored_answered_and_becomes_a_message(
    client, fake_inbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_fake_webhook(client, fake_inbox, fake_payload(id="w1", text="Hello by webhook"))
    assert response.status_code == 200
    assert InboundEvent.objects.get().state == InboundEvent.State.PROCESSED
    assert Message.objects.get().text == "Hello by webhook"


@pytest.mark.parametrize("signature", ["wrong", None])
def test_bad_or_missing_signature_is_refused_and_nothing_is_stored(client, fake_inbox, signature):
    body = fake_payload()
    headers = {"X-Fake-Signature": signature} if signature else {}
    response = client.post(
        f"/hooks/fake/{fake_inbox.public_token}/", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0
    assert Message.objects.count() == 0


def test_signature_made_with_another_inbox_secret_is_refused(client, fake_inbox):
    other = InboxFactory(kind="fake")
    response = post_fake_webhook(client, fake_inbox, fake_payload(), secret=other.secret)
    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0


def test_unknown_inbox_token_is_404_with_a_hint(client):
    response = client.post("/hooks/fake/nope/", data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert b"webhook URL" in response.content


def test_retried_webhook_yields_one_message(client, fake_inbox, django_capture_on_commit_callbacks):
    body = fake_payload(id="retry-me")
    with django_capture_on_commit_callbacks(execute=True):
        assert post_fake_webhook(client, fake_inbox, body).status_code == 200
        assert post_fake_webhook(client, fake_inbox, body).status_code == 200
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_signed_but_unparseable_payload_is_kept_raw_and_marked_failed(
    client, fake_inbox, django_capture_on_commit_callbacks
):
    body = b"this is not json"
    with django_capture_on_commit_callbacks(execute=True):
        response = post_fake_webhook(client, fake_inbox, body)
    assert response.status_code == 200  # a provider retry would not help; we have it
    event = InboundEvent.objects.get()
    assert event.state == InboundEvent.State.FAILED
    assert "JSON" in event.error
    assert bytes(event.raw) == body


def test_admin_sees_failed_events_and_can_replay_them(admin_client, fake_inbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_fake_webhook(admin_client, fake_inbox, b'{"id": "half", "text": "no sender"}')
    event = InboundEvent.objects.get()
    page = admin_client.get("/admin/conversations/inboundevent/?state__exact=failed")
    assert b"half" in page.content and b"ParseError" in page.content

    InboundEvent.objects.filter(pk=event.pk).update(raw=fake_payload(id="half"))
    admin_client.post("/admin/conversations/inboundevent/", {"action": "replay", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.state == InboundEvent.State.PROCESSED
    assert Message.objects.count() == 1


def test_large_signed_payload_is_accepted_and_stored(client, fake_inbox, django_capture_on_commit_callbacks):
    body = fake_payload(id="big", text="x" * (3 * 1024 * 1024))  # bigger than Django's 2.5 MB default
    with django_capture_on_commit_callbacks(execute=True):
        assert post_fake_webhook(client, fake_inbox, body).status_code == 200
    assert len(Message.objects.get().text) == 3 * 1024 * 1024


def test_payload_over_the_limit_is_refused_before_reading(client, fake_inbox, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    response = post_fake_webhook(client, fake_inbox, fake_payload(text="x" * 2000))
    assert response.status_code == 413
    assert InboundEvent.objects.count() == 0


def test_previous_secret_still_verifies_while_rotating(client, fake_inbox, django_capture_on_commit_callbacks):
    old = fake_inbox.secret
    fake_inbox.secret = "the-new-secret"
    fake_inbox.credentials = {"previous_secrets": [old]}
    fake_inbox.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert post_fake_webhook(client, fake_inbox, fake_payload(), secret=old).status_code == 200
        assert post_fake_webhook(client, fake_inbox, fake_payload(), secret="the-new-secret").status_code == 200
        assert post_fake_webhook(client, fake_inbox, fake_payload(), secret="never-was").status_code == 403
    assert Message.objects.count() == 2
