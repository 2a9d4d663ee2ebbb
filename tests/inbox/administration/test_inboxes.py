"""Admins connect channels from the settings pages: a form per kind, the addresses to paste at the
provider, connection checks against real servers and the providers' stand-ins, health, replay."""

import re

import pytest

from conversations.models import InboundEvent, Message
from inbox.models import AuditEntry, Inbox
from tests.factories import InboxFactory, MembershipFactory, UserFactory
from tests.helpers import fake_payload
from tests.mailservers import MAIL_PASSWORD, MAIL_USER, SMTP_PASSWORD, SMTP_USER

pytestmark = pytest.mark.django_db

TWILIO_SID = "AC" + "0" * 32


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada", is_staff=True)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def create(client, kind, data):
    return client.post(f"/settings/inboxes/new/{kind}/", {"routing": "manual", "on_resolved_reply": "reopen", **data})


def test_an_admin_creates_a_widget_inbox_and_sees_its_secret_exactly_once(admin_client, admin_user):
    response = create(
        admin_client,
        "webchat",
        {
            "name": "Website",
            "color": "#FF5500",
            "greeting": "Hi there",
            "prechat_fields": ["name", "email"],
            "allowed_origins": "https://shop.example.com\nhttps://www.example.com/",
            "members": [admin_user.pk],
        },
    )
    assert response.status_code == 302
    inbox = Inbox.objects.get(name="Website")
    assert inbox.settings == {
        "color": "#ff5500",
        "greeting": "Hi there",
        "prechat_fields": ["name", "email"],
        "prechat_required": False,
        "allowed_origins": ["https://shop.example.com", "https://www.example.com"],
    }
    assert list(inbox.members.all()) == [admin_user]
    page = admin_client.get(response["Location"]).content.decode()
    assert inbox.secret in page and inbox.public_token in page and "widget.js" in page
    # Reloading (or anyone following the link later) no longer shows it: only a hint.
    again = admin_client.get(response["Location"]).content.decode()
    assert inbox.secret not in again and f"…{inbox.secret[-4:]}" in again
    entry = AuditEntry.objects.get(action="inbox.create")
    assert entry.actor == admin_user and entry.inbox == inbox and inbox.secret not in str(entry.details)


def test_secrets_are_never_rendered_back_and_an_empty_field_keeps_them(admin_client):
    response = create(
        admin_client,
        "sms",
        {
            "name": "Texts",
            "account_sid": TWILIO_SID,
            "auth_token": "tw-secret-token-1234",
            "from_number": "+1 415 555 0100",
        },
    )
    assert response.status_code == 302, response.content
    inbox = Inbox.objects.get(name="Texts")
    assert inbox.credentials == {"account_sid": TWILIO_SID, "auth_token": "tw-secret-token-1234"}
    assert inbox.settings["from_number"] == "+14155550100"
    page = admin_client.get(f"/settings/inboxes/{inbox.pk}/").content.decode()
    assert "tw-secret-token-1234" not in page and "…1234" in page
    assert f"/hooks/sms/{inbox.public_token}/" in page
    # Saving the form again without typing the token keeps it; typing one replaces it.
    base = {
        "name": "Texts 2",
        "account_sid": TWILIO_SID,
        "from_number": "+14155550100",
        "routing": "manual",
        "on_resolved_reply": "reopen",
    }
    assert admin_client.post(f"/settings/inboxes/{inbox.pk}/", base).status_code == 302
    inbox.refresh_from_db()
    assert inbox.name == "Texts 2" and inbox.credentials["auth_token"] == "tw-secret-token-1234"
    admin_client.post(f"/settings/inboxes/{inbox.pk}/", {**base, "auth_token": "tw-new-token-5678"})
    inbox.refresh_from_db()
    assert inbox.credentials["auth_token"] == "tw-new-token-5678"
    update = AuditEntry.objects.filter(action="inbox.update").first()
    assert update.details["auth_token"] == "(changed)" and "tw-new-token" not in str(update.details)


@pytest.mark.parametrize(
    ("kind", "data", "field", "message"),
    [
        ("webchat", {"color": "red"}, "color", "A colour like"),
        (
            "webchat",
            {"color": "#000000", "allowed_origins": "shop.example.com/page"},
            "allowed_origins",
            "not an origin",
        ),
        ("sms", {"account_sid": "AC123", "auth_token": "x"}, "account_sid", "Account SID is AC"),
        ("sms", {"account_sid": TWILIO_SID, "auth_token": "x"}, "from_number", "number to send from"),
        ("messenger", {"page_id": "123456", "verify_token": "v"}, "page_access_token", "Needed"),
        (
            "email",
            {"address": "help@example.com", "imap_host": "imap.example.com"},
            "imap_username",
            "needs a username",
        ),
    ],
)
def test_each_form_explains_what_is_wrong(admin_client, kind, data, field, message):
    response = create(admin_client, kind, {"name": "X", **data})
    assert response.status_code == 200 and not Inbox.objects.exists()
    assert message in response.content.decode()


def test_agents_cannot_open_settings_and_visitors_are_sent_to_sign_in(client, agent_client):
    inbox = InboxFactory(kind="webchat")
    for url in ("/settings/inboxes/", f"/settings/inboxes/{inbox.pk}/", "/settings/inboxes/new/sms/"):
        assert agent_client.get(url).status_code == 403
    assert agent_client.post(f"/settings/inboxes/{inbox.pk}/toggle/").status_code == 403
    client.logout()
    assert client.get("/settings/inboxes/")["Location"].startswith("/login/")


def test_sms_check_connection_against_twilio(admin_client, twilio):
    inbox = InboxFactory(
        kind="sms",
        credentials={"account_sid": twilio.account_sid, "auth_token": twilio.auth_token},
        settings={"from_number": "+14155550100"},
    )
    ok = admin_client.post(f"/settings/inboxes/{inbox.pk}/check/").content.decode()
    assert "Twilio account: OK.</strong>" in ok and "Acme Support" in ok
    Inbox.objects.filter(pk=inbox.pk).update(credentials={"account_sid": twilio.account_sid, "auth_token": "wrong"})
    bad = admin_client.post(f"/settings/inboxes/{inbox.pk}/check/").content.decode()
    assert (
        "Twilio account: failed.</strong>" in bad
        and "refused the Account SID or Auth Token" in bad
        and "wrong" not in bad
    )
    inbox.refresh_from_db()
    assert "Twilio account" in inbox.needs_reconnection
    # Once fixed, the check clears the flag the list shows.
    Inbox.objects.filter(pk=inbox.pk).update(
        credentials={"account_sid": twilio.account_sid, "auth_token": twilio.auth_token}
    )
    admin_client.post(f"/settings/inboxes/{inbox.pk}/check/")
    inbox.refresh_from_db()
    assert inbox.needs_reconnection == "" and inbox.last_error == ""


def test_a_provider_that_cannot_be_reached_is_told_in_a_sentence_with_the_detail_on_request(admin_client, settings):
    settings.TWILIO_API_BASE_URL = "https://api.twilio.invalid"  # .invalid never resolves (RFC 2606)
    inbox = InboxFactory(kind="sms", credentials={"account_sid": "AC1", "auth_token": "t"}, settings={})
    page = admin_client.post(f"/settings/inboxes/{inbox.pk}/check/").content.decode()
    sentence, _, detail = page.partition("<details")
    assert "Twilio could not be found: check this server&#x27;s internet connection and DNS." in sentence
    assert "Max retries" not in sentence and "Error" not in sentence.split("failed.</strong>")[1]
    assert "<summary>Details</summary>" in detail and "Error" in detail  # the library's words, one click away
    inbox.refresh_from_db()
    assert inbox.last_error.startswith("Twilio account: Twilio could not be found")
    listing = admin_client.get("/settings/inboxes/").content.decode()
    assert "Twilio could not be found" in listing and "Healthy" not in listing


def test_messenger_check_connection_checks_the_token_the_page_and_the_app_secret(admin_client, graph):
    graph.app_secret = "meta-app-secret"
    credentials = {"page_access_token": graph.page_token, "app_secret": "meta-app-secret", "verify_token": "v"}
    inbox = InboxFactory(kind="messenger", credentials=credentials, settings={"page_id": graph.page_id})
    assert (
        "The token works for Acme Support" in admin_client.post(f"/settings/inboxes/{inbox.pk}/check/").content.decode()
    )
    Inbox.objects.filter(pk=inbox.pk).update(credentials={**credentials, "app_secret": "not-it"})
    assert "Invalid appsecret_proof" in admin_client.post(f"/settings/inboxes/{inbox.pk}/check/").content.decode()
    Inbox.objects.filter(pk=inbox.pk).update(credentials={**credentials, "page_access_token": "EAAG-expired"})
    assert "error 190" in admin_client.post(f"/settings/inboxes/{inbox.pk}/check/").content.decode()
    Inbox.objects.filter(pk=inbox.pk).update(credentials=credentials, settings={"page_id": "999999"})
    assert "not page 999999" in admin_client.post(f"/settings/inboxes/{inbox.pk}/check/").content.decode()


def test_email_check_connection_logs_in_to_imap_and_smtp(admin_client, imap_server, smtp_login_server):
    imap = imap_server.settings
    smtp = {
        "host": "127.0.0.1",
        "port": smtp_login_server.port,
        "security": "none",
        "username": SMTP_USER,
        "password": SMTP_PASSWORD,
    }
    inbox = InboxFactory(
        kind="email", settings={"address": "help@example.com"}, credentials={"imap": imap, "smtp": smtp}
    )
    ok = admin_client.post(f"/settings/inboxes/{inbox.pk}/check/").content.decode()
    assert "IMAP: OK.</strong> Signed in; INBOX holds" in ok and "SMTP: OK.</strong> Signed in" in ok
    wrong = {"imap": {**imap, "password": "nope"}, "smtp": {**smtp, "password": "nope"}}
    Inbox.objects.filter(pk=inbox.pk).update(credentials=wrong)
    bad = admin_client.post(f"/settings/inboxes/{inbox.pk}/check/").content.decode()
    assert bad.count("refused the username or password") == 2
    assert MAIL_PASSWORD not in bad and SMTP_PASSWORD not in bad and MAIL_USER  # no secret echoed


def test_replies_leave_through_the_inboxes_own_smtp_server(
    smtp_login_server, agent_client, agent, django_capture_on_commit_callbacks
):
    from conversations.ingest import message_ingest
    from tests.helpers import inbound

    inbox = InboxFactory(
        kind="email",
        settings={"address": "help@example.com"},
        credentials={
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_login_server.port,
                "security": "none",
                "username": SMTP_USER,
                "password": SMTP_PASSWORD,
            }
        },
    )
    MembershipFactory(inbox=inbox, user=agent)
    message = message_ingest(inbox=inbox, inbound=inbound("Hello?", kind="email", address="c@example.org"))
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(
            f"/conversations/{message.conversation_id}/reply/", {"text": "Hi from us"}, headers={"HX-Request": "true"}
        )
    assert response.status_code == 200
    received = smtp_login_server.wait_for(1)
    assert received[0]["To"] == "c@example.org" and "Hi from us" in received[0].get_body().get_content()
    assert Message.objects.get(text="Hi from us").status == Message.Status.SENT


def test_disabling_an_inbox_closes_its_webhook_and_deleting_refuses_to_lose_messages(admin_client, client, fake_inbox):
    from conversations.ingest import message_ingest
    from tests.helpers import inbound

    sms = InboxFactory(kind="sms", credentials={"account_sid": TWILIO_SID, "auth_token": "t"})
    admin_client.post(f"/settings/inboxes/{sms.pk}/toggle/")
    assert client.post(f"/hooks/sms/{sms.public_token}/", {"Body": "x"}).status_code == 404
    message_ingest(inbox=fake_inbox, inbound=inbound("keep me"))
    response = admin_client.post(f"/settings/inboxes/{fake_inbox.pk}/delete/", follow=True)
    assert "disable it instead" in response.content.decode() and Inbox.objects.filter(pk=fake_inbox.pk).exists()
    admin_client.post(f"/settings/inboxes/{sms.pk}/delete/")
    assert not Inbox.objects.filter(pk=sms.pk).exists()
    assert [e.action for e in AuditEntry.objects.order_by("at", "id")] == ["inbox.disable", "inbox.delete"]


def test_a_failed_event_shows_with_its_reason_and_replays(admin_client, fake_inbox):
    event = InboundEvent.objects.create(
        inbox=fake_inbox,
        external_id="e1",
        raw=b"<not json>",
        content_type="application/json",
        state=InboundEvent.State.FAILED,
        error="ParseError: not JSON",
    )
    listing = admin_client.get("/settings/inboxes/").content.decode()
    assert "1 failed event" in listing
    page = admin_client.get(f"/settings/events/?inbox={fake_inbox.pk}").content.decode()
    assert "ParseError: not JSON" in page
    detail = admin_client.get(f"/settings/events/{event.pk}/").content.decode()
    assert "&lt;not json&gt;" in detail  # the raw payload, escaped
    # The cause fixed (here: the payload the provider meant), a replay processes it.
    InboundEvent.objects.filter(pk=event.pk).update(raw=fake_payload(text="Back again"))
    response = admin_client.post(f"/settings/events/{event.pk}/replay/", follow=True)
    assert "all processed" in response.content.decode()
    event.refresh_from_db()
    assert event.state == InboundEvent.State.PROCESSED and Message.objects.filter(text="Back again").exists()


def test_a_failed_event_can_be_archived_kept_audited_and_still_replayed(admin_client, admin_user, fake_inbox):
    event = InboundEvent.objects.create(
        inbox=fake_inbox, external_id="e2", raw=b"<junk>", state=InboundEvent.State.FAILED, error="ParseError: junk"
    )
    assert "Archive</button>" in admin_client.get(f"/settings/events/{event.pk}/").content.decode()
    response = admin_client.post(f"/settings/events/{event.pk}/archive/", follow=True)
    assert "archived: it is kept, and can still be replayed" in response.content.decode()
    event.refresh_from_db()
    assert event.state == InboundEvent.State.ARCHIVED and bytes(event.raw) == b"<junk>"  # never deleted
    entry = AuditEntry.objects.get(action="event.archive")
    assert entry.actor == admin_user and entry.target_id == event.pk and entry.details["error"] == "ParseError: junk"
    # No longer counted against the inbox, nor listed among the failed; shown when asked for.
    assert "failed event" not in admin_client.get("/settings/inboxes/").content.decode()
    assert f'data-event-id="{event.pk}"' not in admin_client.get("/settings/events/").content.decode()
    assert f'data-event-id="{event.pk}"' in admin_client.get("/settings/events/?state=archived").content.decode()
    # Archiving again changes nothing and records nothing.
    admin_client.post(f"/settings/events/{event.pk}/archive/")
    assert AuditEntry.objects.filter(action="event.archive").count() == 1
    InboundEvent.objects.filter(pk=event.pk).update(raw=fake_payload(text="Found it"))
    admin_client.post(f"/settings/events/{event.pk}/replay/")
    event.refresh_from_db()
    assert event.state == InboundEvent.State.PROCESSED


def test_rotating_a_secret_keeps_the_old_one_working_until_the_next(admin_client):
    inbox = InboxFactory(kind="webchat")
    old = inbox.secret
    response = admin_client.post(f"/settings/inboxes/{inbox.pk}/rotate-secret/")
    inbox.refresh_from_db()
    assert inbox.secret != old and inbox.secrets == [inbox.secret, old]
    assert inbox.secret in admin_client.get(response["Location"]).content.decode()


def test_the_widget_preview_shows_unsaved_settings_escaped(admin_client):
    inbox = InboxFactory(kind="webchat", settings={"allowed_origins": ["https://shop.example.com"]})
    page = admin_client.get(
        f"/try/{inbox.public_token}/", {"preview": "1", "color": "#123456", "greeting": '"><script>x</script>'}
    )
    html = page.content.decode()
    assert 'data-preview-color="#123456"' in html and "<script>x</script>" not in html
    assert page["X-Frame-Options"] == "SAMEORIGIN"
    assert re.search(r'data-preview-greeting="&quot;&gt;&lt;script&gt;', html)


def test_the_list_says_when_a_customer_last_wrote_through_each_inbox(admin_client, fake_inbox):
    from conversations.ingest import message_ingest
    from tests.helpers import inbound

    assert "nothing yet" in admin_client.get("/settings/inboxes/").content.decode()
    message_ingest(inbox=fake_inbox, inbound=inbound("Hello"))
    fake_inbox.refresh_from_db()
    assert fake_inbox.last_inbound_at is not None
    assert "0\xa0minutes ago" in admin_client.get("/settings/inboxes/").content.decode()


def test_saving_a_form_unchanged_keeps_what_was_saved_and_defaults_what_never_was(admin_client):
    widget = InboxFactory(kind="webchat", settings={"prechat_fields": ["name", "email"], "greeting": "Hi"})
    form = admin_client.get(f"/settings/inboxes/{widget.pk}/").context["form"]
    assert form["prechat_fields"].value() == ["name", "email"]
    assert form["color"].value() == "#1f6feb"  # never saved: the widget's own colour, not black
    data = {k: v for k, v in form.initial.items() if v not in (None, "")}
    data["members"] = []
    assert admin_client.post(f"/settings/inboxes/{widget.pk}/", data).status_code == 302
    widget.refresh_from_db()
    assert widget.settings["prechat_fields"] == ["name", "email"] and widget.settings["color"] == "#1f6feb"
    mail = InboxFactory(
        kind="email",
        settings={"address": "a@example.com"},
        credentials={"imap": {"host": "imap.example.com", "username": "u", "password": "p"}},
    )
    assert admin_client.get(f"/settings/inboxes/{mail.pk}/").context["form"]["imap_ssl"].value() is True


def test_an_imap_server_needs_a_password_and_an_unexpected_failure_is_an_answer_not_a_500(admin_client, imap_server):
    response = create(
        admin_client, "email", {"name": "M", "address": "a@example.com", "imap_host": "h", "imap_username": "u"}
    )
    assert "needs a password" in response.content.decode()
    imap = {**imap_server.settings, "password": "pässword"}  # IMAP LOGIN cannot send it
    inbox = InboxFactory(kind="email", settings={"address": "a@example.com"}, credentials={"imap": imap})
    response = admin_client.post(f"/settings/inboxes/{inbox.pk}/check/")
    assert response.status_code == 200 and "The check itself failed" in response.content.decode()
    assert "pässword" not in response.content.decode()


def test_the_failed_events_count_is_not_multiplied_by_members(admin_client, fake_inbox):
    for user in UserFactory.create_batch(2):
        MembershipFactory(inbox=fake_inbox, user=user)
    for n in range(2):
        InboundEvent.objects.create(inbox=fake_inbox, external_id=f"e{n}", raw=b"x", state=InboundEvent.State.FAILED)
    page = admin_client.get("/settings/inboxes/").content.decode()
    assert "2 failed events" in page and "6 failed events" not in page


def test_saving_an_inbox_keeps_a_deactivated_member(admin_client):
    inbox = InboxFactory(kind="webchat")
    away = MembershipFactory(inbox=inbox, user=UserFactory(username="bob", is_active=False)).user
    form = admin_client.get(f"/settings/inboxes/{inbox.pk}/").context["form"]
    assert "(deactivated)" in str(form["members"])
    data = {k: v for k, v in form.initial.items() if v not in (None, "")}
    data["name"] = "Renamed"
    admin_client.post(f"/settings/inboxes/{inbox.pk}/", data)
    assert list(Inbox.objects.get(pk=inbox.pk).members.all()) == [away]


def test_a_failed_reply_shows_on_its_inbox_until_a_send_succeeds(
    admin_client, admin_user, django_capture_on_commit_callbacks
):
    from conversations.replies import message_reply
    from tests.factories import ConversationFactory

    inbox = InboxFactory(kind="fake", name="Shop", settings={"fake_fail": "permanent"})
    conversation = ConversationFactory(inbox=inbox)
    with django_capture_on_commit_callbacks(execute=True):
        message_reply(conversation=conversation, author=admin_user, text="Your parcel left today.")
    health = admin_client.get("/settings/inboxes/").content.decode()
    assert "A reply could not be sent: The test provider refused the message." in health and "Healthy" not in health
    assert "<summary>Details</summary><code>fake_fail=permanent</code>" in health

    Inbox.objects.filter(pk=inbox.pk).update(settings={})
    with django_capture_on_commit_callbacks(execute=True):
        message_reply(conversation=conversation, author=admin_user, text="And here is the tracking link.")
    health = admin_client.get("/settings/inboxes/").content.decode()
    assert "Healthy" in health and "could not be sent" not in health


def test_the_inbox_list_names_each_assignment_rule_whole(admin_client):
    InboxFactory(name="Chat", routing="round_robin", routing_capacity=5)
    InboxFactory(name="Mail", kind="email")
    page = admin_client.get("/settings/inboxes/").content.decode()
    assert "Round-robin, at most 5 each" in page and ">Manual<" in page and "…" not in page


def test_an_admin_sets_business_hours_with_holidays_and_an_away_message(admin_client):
    inbox = InboxFactory(kind="webchat", name="Chat")
    base = {"name": "Chat", "routing": "manual", "on_resolved_reply": "reopen", "color": "#1f6feb"}
    wrong = admin_client.post(
        f"/settings/inboxes/{inbox.pk}/", {**base, "hours_enabled": "on", "weekly_hours": "Mon 9-5"}
    )
    assert wrong.status_code == 200 and "Line 1: “9-5” is not a period like 09:00-17:00." in wrong.content.decode()
    saved = admin_client.post(
        f"/settings/inboxes/{inbox.pk}/",
        {
            **base,
            "hours_enabled": "on",
            "time_zone": "Europe/Bucharest",
            "weekly_hours": "Mon 09:00-12:00 13:00-17:00\nFri 22:00-02:00",
            "holiday_country": "RO",
            "custom_holidays": "2026-12-24\n2026-12-31",
            "away_message": "Suntem plecați până la 9:00.",
        },
    )
    assert saved.status_code == 302
    inbox.refresh_from_db()
    assert inbox.hours_enabled and inbox.time_zone == "Europe/Bucharest" and inbox.holiday_country == "RO"
    assert inbox.weekly_hours == {"0": [["09:00", "12:00"], ["13:00", "17:00"]], "4": [["22:00", "02:00"]]}
    assert inbox.custom_holidays == ["2026-12-24", "2026-12-31"]
    form = admin_client.get(f"/settings/inboxes/{inbox.pk}/").content.decode()
    assert "Mon 09:00-12:00 13:00-17:00\nFri 22:00-02:00" in form and "Romania" in form
    assert AuditEntry.objects.filter(action="inbox.update", details__has_key="weekly_hours").exists()
