"""What agents do from the workspace, through its URLs, as the server sees it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.actions import conversations_wake_snoozed
from conversations.ingest import message_ingest
from conversations.models import Conversation, ConversationRead, Label, Message, Notification
from conversations.selectors import widget_history
from customers.models import ContactIdentity, Customer, CustomerMerge
from inbox.connectors import fake
from tests.factories import ConversationFactory, InboxFactory, MembershipFactory, MessageFactory, UserFactory
from tests.helpers import inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(fake_inbox):
    return message_ingest(inbox=fake_inbox, inbound=inbound("Where is my parcel?", kind="email", address="a@x.org"))


@pytest.fixture
def kim(fake_inbox):
    return MembershipFactory(inbox=fake_inbox, user=UserFactory(username="kim")).user


def post(client, conversation, action, data):
    return client.post(f"/conversations/{conversation.pk}/{action}/", data, headers={"HX-Request": "true"})


def test_note_mentions_notify_the_agent_and_never_reach_the_customer(agent_client, conversation, kim, fake_inbox):
    outsider = UserFactory(username="olga")  # not in the inbox: a mention does not reach her
    response = post(agent_client, conversation.conversation, "reply", {"mode": "note", "text": "@Kim and @olga, see?"})
    assert response.status_code == 200
    note = Message.objects.get(direction=Message.Direction.NOTE)
    assert "mention" in response.content.decode() and fake.outbox == []  # nothing sent anywhere
    assert list(Notification.objects.values_list("user__username", "kind")) == [("kim", "mention")]
    assert not Notification.objects.filter(user=outsider).exists()
    assert note not in widget_history(inbox_id=fake_inbox.pk, visitor_id="a@x.org", verified_email="a@x.org")


@pytest.mark.parametrize(
    "text, notified",
    [
        # An invited agent signs in with their email address.
        ("@ana@example.com can you look?", ["ana@example.com"]),
        ("Thanks, @ana@example.com.", ["ana@example.com"]),
        # The longest sign-in name wins: sam@example.com is not Sam.
        ("@sam@example.com, yours", ["sam@example.com"]),
        ("@sam. Yours", ["sam"]),
        ("@Sam and @ana@example.com", ["ana@example.com", "sam"]),
        # An address in passing mentions nobody.
        ("write to ana@example.com", []),
    ],
)
def test_a_mention_names_the_agent_whatever_their_sign_in_name(agent_client, conversation, fake_inbox, text, notified):
    for username in ("ana@example.com", "sam", "sam@example.com"):
        MembershipFactory(inbox=fake_inbox, user=UserFactory(username=username, email=username))
    post(agent_client, conversation.conversation, "reply", {"mode": "note", "text": text})
    assert sorted(Notification.objects.values_list("user__username", flat=True)) == notified


def test_a_note_of_punctuation_asks_about_few_names_and_still_finds_the_agent(agent_client, conversation, fake_inbox):
    MembershipFactory(inbox=fake_inbox, user=UserFactory(username="ana@example.com"))
    flood = "@" + "a." * 4000
    with CaptureQueriesContext(connection) as queries:
        post(agent_client, conversation.conversation, "reply", {"mode": "note", "text": f"{flood} @ana@example.com"})
    lookups = [q["sql"] for q in queries if "auth_user" in q["sql"] and "LOWER" in q["sql"].upper()]
    assert len(lookups) == 1 and len(lookups[0]) < 20_000
    assert list(Notification.objects.values_list("user__username", flat=True)) == ["ana@example.com"]


def test_assign_notifies_the_assignee_and_refuses_an_agent_outside_the_inbox(agent_client, conversation, kim):
    c = conversation.conversation
    assert post(agent_client, c, "assign", {"assignee": UserFactory().pk}).status_code == 422
    assert post(agent_client, c, "assign", {"assignee": kim.pk}).status_code == 200
    assert Conversation.objects.get(pk=c.pk).assignee == kim
    assert Notification.objects.get(user=kim).kind == "assigned"


def test_a_new_message_in_my_conversation_notifies_me(conversation, kim, fake_inbox):
    Conversation.objects.filter(pk=conversation.conversation_id).update(assignee=kim)
    message_ingest(inbox=fake_inbox, inbound=inbound("Any news?", kind="email", address="a@x.org"))
    assert Notification.objects.get(user=kim).text.endswith("Any news?")


def test_snooze_hides_until_the_wake_up_reopens_and_tells_the_assignee(agent_client, conversation, kim):
    c = conversation.conversation
    Conversation.objects.filter(pk=c.pk).update(assignee=kim)
    assert post(agent_client, c, "status", {"status": "snoozed", "for": "1h", "tz": "Europe/Paris"}).status_code == 200
    c.refresh_from_db()
    assert c.status == "snoozed" and timedelta(minutes=59) < c.snoozed_until - timezone.now() <= timedelta(hours=1)
    assert conversations_wake_snoozed() == []  # not yet
    assert conversations_wake_snoozed(now=timezone.now() + timedelta(hours=2)) == [c.pk]
    c.refresh_from_db()
    assert c.status == "open" and c.snoozed_until is None
    assert Notification.objects.get(user=kim, kind="snooze_ended")


def test_snooze_in_the_past_or_without_a_time_is_refused(agent_client, conversation):
    c = conversation.conversation
    assert post(agent_client, c, "status", {"status": "snoozed", "until": "2001-01-01T09:00"}).status_code == 422
    assert post(agent_client, c, "status", {"status": "snoozed", "until": "soon"}).status_code == 422
    assert Conversation.objects.get(pk=c.pk).status == "open"


def test_a_customer_message_wakes_a_snoozed_conversation_and_sets_the_waiting_time(conversation, fake_inbox):
    c = conversation.conversation
    Conversation.objects.filter(pk=c.pk).update(status="snoozed", snoozed_until=timezone.now() + timedelta(days=1))
    first_wait = Conversation.objects.get(pk=c.pk).waiting_since
    message_ingest(inbox=fake_inbox, inbound=inbound("Hello?", kind="email", address="a@x.org"))
    c.refresh_from_db()
    assert c.status == "open" and c.snoozed_until is None and c.waiting_since == first_wait  # still the first


def test_the_send_guard_asks_before_sending_over_a_message_the_agent_has_not_seen(
    agent_client, conversation, fake_inbox, django_capture_on_commit_callbacks
):
    c = conversation.conversation
    seen = conversation.pk
    message_ingest(inbox=fake_inbox, inbound=inbound("Actually, never mind", kind="email", address="a@x.org"))
    response = post(agent_client, c, "reply", {"text": "On it!", "seen": seen})
    assert response.status_code == 409
    assert "Actually, never mind" in response.content.decode() and "On it!" in response.content.decode()
    assert not Message.objects.filter(direction="out").exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(agent_client, c, "reply", {"text": "On it!", "seen": seen, "confirm": "1"})
    assert response.status_code == 200
    assert Message.objects.get(direction="out").text == "On it!"
    assert Conversation.objects.get(pk=c.pk).waiting_since is None  # answered


def test_labels_and_bulk_actions_apply_only_within_my_inboxes(agent_client, conversation, fake_inbox):
    vip = Label.objects.create(name="vip")
    mine = ConversationFactory(inbox=fake_inbox)
    foreign = ConversationFactory(inbox=InboxFactory(kind="fake"))
    response = agent_client.post(
        "/conversations/bulk/", {"ids": [mine.pk, foreign.pk], "action": "label", "value": vip.pk}
    )
    assert response.status_code == 200 and "1 of 2 changed" in response.content.decode()
    assert list(mine.labels.all()) == [vip] and not foreign.labels.exists()
    agent_client.post("/conversations/bulk/", {"ids": [mine.pk, foreign.pk], "action": "resolve"})
    assert Conversation.objects.get(pk=mine.pk).status == "resolved"
    assert Conversation.objects.get(pk=foreign.pk).status == "open"
    assert agent_client.post("/conversations/bulk/", {"ids": [mine.pk], "action": "delete"}).status_code == 422


def test_views_filters_and_the_waiting_sort(agent_client, agent, fake_inbox):
    now = timezone.now()
    mine = ConversationFactory(inbox=fake_inbox, assignee=agent, identity__customer__name="Mine Maria")
    ConversationFactory(inbox=fake_inbox, identity__customer__name="Unowned Uma")
    ConversationFactory(inbox=fake_inbox, status="resolved", identity__customer__name="Done Dora")
    long_wait = ConversationFactory(
        inbox=fake_inbox, waiting_since=now - timedelta(hours=5), identity__customer__name="Patient Pat"
    )
    short_wait = ConversationFactory(
        inbox=fake_inbox, waiting_since=now - timedelta(minutes=5), identity__customer__name="Quick Quinn"
    )
    page = agent_client.get("/?view=mine").content.decode()
    assert "Mine Maria" in page and "Unowned Uma" not in page and 'data-count-for="mine">1<' in page
    assert 'data-count-for="all">4<' in page  # open ones only
    page = agent_client.get("/?view=unassigned&status=resolved").content.decode()
    assert "Done Dora" in page and "Mine Maria" not in page
    page = agent_client.get("/?sort=waiting").content.decode()
    assert page.index(f"conv-row-{long_wait.pk}") < page.index(f"conv-row-{short_wait.pk}")
    assert f"conv-row-{mine.pk}" not in page  # nobody waits on it


def test_unread_marks_are_each_agents_own(agent_client, agent, conversation, kim, client):
    c = conversation.conversation
    assert 'class="conversation-row status-open unread"' in agent_client.get("/").content.decode()
    agent_client.get(f"/conversations/{c.pk}/", headers={"HX-Request": "true"})
    assert ConversationRead.objects.filter(user=agent, conversation=c).exists()
    assert "unread" not in agent_client.get("/").content.decode().split(f'id="conv-row-{c.pk}"')[1][:60]
    client.force_login(kim)
    assert "unread" in client.get("/").content.decode().split(f'id="conv-row-{c.pk}"')[1][:60]


def test_merge_records_what_moved_and_undo_gives_exactly_that_back(agent_client, fake_inbox):
    ada = message_ingest(inbox=fake_inbox, inbound=inbound("by mail", kind="email", address="ada@x.org", name="Ada"))
    phone = message_ingest(inbox=fake_inbox, inbound=inbound("by phone", kind="email", address="ada@y.org"))
    target, source = ada.conversation.customer, phone.conversation.customer
    preview = agent_client.get(f"/customers/{target.pk}/merge/preview/", {"other": source.pk}).content.decode()
    assert f"Conversation #{phone.conversation_id}" in preview and "ada@y.org" in preview
    response = agent_client.post(
        f"/customers/{target.pk}/merge/",
        {"other": source.pk, "conversation": ada.conversation_id},
        headers={"HX-Request": "true"},
    )
    assert "1 conversation and 1 address moved" in response.content.decode()
    merge = CustomerMerge.objects.get()
    assert Conversation.objects.get(pk=phone.conversation_id).customer_id == target.pk
    # A message arriving after the merge, on the moved conversation, goes back with it.
    later = message_ingest(inbox=fake_inbox, inbound=inbound("after merge", kind="email", address="ada@y.org"))
    response = agent_client.post(
        f"/merges/{merge.pk}/undo/", {"conversation": ada.conversation_id}, headers={"HX-Request": "true"}
    )
    assert "Merge undone" in response.content.decode()
    assert Conversation.objects.get(pk=later.conversation_id).customer_id == source.pk
    assert ContactIdentity.objects.get(address="ada@y.org").customer_id == source.pk
    assert Customer.objects.get(pk=source.pk).merged_into_id is None
    assert Customer.objects.get(pk=target.pk).name == "Ada"
    assert agent_client.post(f"/merges/{merge.pk}/undo/").status_code == 422  # once


def test_retry_queues_a_failed_reply_again(agent_client, conversation, django_capture_on_commit_callbacks):
    failed = MessageFactory(
        conversation=conversation.conversation, direction="out", sender_type="agent", status="failed", external_id=None
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(f"/messages/{failed.pk}/retry/")
    assert response.status_code == 200
    assert Message.objects.get(pk=failed.pk).status == "sent" and len(fake.outbox) == 1


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/conversations/{c}/assign/"),
        ("post", "/conversations/{c}/status/"),
        ("post", "/conversations/{c}/labels/"),
        ("post", "/conversations/{c}/read/"),
        ("post", "/conversations/{c}/reply/"),
        ("post", "/messages/{m}/retry/"),
        ("post", "/customers/{cu}/notes/"),
        ("get", "/customers/{cu}/merge/preview/?other={cu}"),
    ],
)
def test_an_agent_outside_the_inbox_gets_404_and_changes_nothing(client, conversation, method, url):
    c = conversation.conversation
    client.force_login(MembershipFactory().user)  # a member of another inbox
    path = url.format(c=c.pk, m=conversation.pk, cu=c.customer_id)
    response = getattr(client, method)(path, {"status": "resolved", "text": "x", "notes": "x", "assignee": ""})
    assert response.status_code == 404
    c.refresh_from_db()
    assert c.status == "open" and not Customer.objects.filter(notes="x").exists()
    assert Message.objects.count() == 1


def test_canned_responses_are_personal_unless_an_admin_shares_them(agent_client, agent, client):
    agent_client.post("/canned/", {"shortcut": "thanks", "text": "Thank you!"})
    agent_client.post("/canned/", {"shortcut": "hi", "text": "Hi!", "shared": "on"})  # not an admin: personal
    other = UserFactory()
    client.force_login(other)
    assert "Thank you!" not in client.get("/canned/").content.decode()
    admin = UserFactory(is_staff=True)
    client.force_login(admin)
    client.post("/canned/", {"shortcut": "bye", "text": "Goodbye!", "shared": "on"})
    client.force_login(other)
    assert "Goodbye!" in client.get("/canned/").content.decode()
