import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from conversations.actions import conversation_mark_read
from conversations.ingest import message_ingest
from conversations.models import Label, Message
from inbox.connectors import fake
from inbox.models import Team
from tests.factories import ConversationFactory, InboxFactory, MessageFactory, UserFactory
from tests.helpers import inbound

pytestmark = pytest.mark.django_db


def test_workspace_needs_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_login_page_signs_an_agent_in(client, agent):
    response = client.post("/login/", {"username": agent.username, "password": "pw-for-tests"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_list_shows_newest_activity_first_and_only_my_inboxes(agent_client, webchat_inbox):
    now = timezone.now()
    old = ConversationFactory(
        inbox=webchat_inbox, last_message_at=now - timedelta(hours=2), identity__customer__name="Old Olga"
    )
    new = ConversationFactory(inbox=webchat_inbox, last_message_at=now, identity__customer__name="New Nina")
    ConversationFactory(last_message_at=now, identity__customer__name="Hidden Hank")  # another inbox
    html = agent_client.get("/").content.decode()
    assert html.index("New Nina") < html.index("Old Olga")
    assert "Hidden Hank" not in html
    assert f"conv-row-{new.pk}" in html and f"conv-row-{old.pk}" in html


# session, user, rows (customer, inbox, assignee, team, read mark joined), their labels, agents, teams,
# labels, view counts, inboxes, notifications, unread notifications, canned responses, saved views
LIST_PAGE_QUERIES = 13


def test_list_costs_the_same_queries_for_5_or_40_conversations(
    agent_client, agent, webchat_inbox, django_assert_num_queries
):
    # Assigned, labelled, in a team, read by the agent: a missing join would cost a query per row.
    team, label = Team.objects.create(name="Billing"), Label.objects.create(name="vip")

    def add(n):
        for _ in range(n):
            conversation = ConversationFactory(inbox=webchat_inbox, assignee=UserFactory(), team=team)
            conversation.labels.add(label)
            conversation_mark_read(user=agent, conversation_id=conversation.pk)

    add(5)
    with django_assert_num_queries(LIST_PAGE_QUERIES):
        agent_client.get("/")
    add(35)
    with django_assert_num_queries(LIST_PAGE_QUERIES):
        html = agent_client.get("/").content.decode()
    assert html.count('class="label-chip"') >= 40 and "Billing" in html


def test_list_pages_with_a_keyset_cursor(agent_client, webchat_inbox):
    now = timezone.now()
    conversations = [
        ConversationFactory(inbox=webchat_inbox, last_message_at=now - timedelta(minutes=i)) for i in range(55)
    ]
    first = agent_client.get("/").content.decode()
    assert f'conv-row-{conversations[49].pk}"' in first and f'conv-row-{conversations[50].pk}"' not in first
    after = re.search(r'\?after=([^"]+)"', first).group(1)
    second = agent_client.get(f"/?after={after}", headers={"HX-Request": "true"}).content.decode()
    assert f'conv-row-{conversations[50].pk}"' in second and f'conv-row-{conversations[54].pk}"' in second
    assert f'conv-row-{conversations[49].pk}"' not in second


def test_conversation_shows_customer_timeline_across_conversations_and_channels(
    agent_client, webchat_inbox, fake_inbox
):
    chat = message_ingest(inbox=webchat_inbox, inbound=inbound("via chat", address="v1"))
    customer = chat.conversation.customer
    email_conversation = ConversationFactory(inbox=fake_inbox, customer=customer, identity__customer=customer)
    MessageFactory(conversation=email_conversation, text="via email")
    secret_inbox = InboxFactory(kind="fake")  # the agent is not a member
    MessageFactory(
        conversation=ConversationFactory(inbox=secret_inbox, customer=customer, identity__customer=customer),
        text="not for you",
    )

    html = agent_client.get(f"/conversations/{chat.conversation_id}/").content.decode()
    assert html.index("via chat") < html.index("via email")
    assert "not for you" not in html


def test_conversation_page_costs_fixed_queries(agent_client, agent, webchat_inbox, django_assert_num_queries):
    conversation = message_ingest(inbox=webchat_inbox, inbound=inbound("one", address="v1")).conversation
    # The pane a click loads: session, user, conversation, read mark, timeline and its attachments,
    # agents, teams, labels, reply channels, identities, past conversations, the conversation's labels
    pane = {"HX-Request": "true"}
    with django_assert_num_queries(13):
        agent_client.get(f"/conversations/{conversation.pk}/", headers=pane)
    for i in range(20):  # customer messages and agents' replies and notes, by several agents
        message_ingest(inbox=webchat_inbox, inbound=inbound(f"more {i}", address="v1"))
        MessageFactory(conversation=conversation, direction="out", sender_type="agent", author=UserFactory())
        MessageFactory(conversation=conversation, direction="note", sender_type="agent", author=UserFactory())
    with django_assert_num_queries(13):
        agent_client.get(f"/conversations/{conversation.pk}/", headers=pane)
    # A reload: the pane, the list and what surrounds them (the list's own count is above)
    with django_assert_num_queries(13 + LIST_PAGE_QUERIES - 2):
        agent_client.get(f"/conversations/{conversation.pk}/")


def test_long_timeline_shows_latest_page_and_loads_earlier_on_demand(agent_client, webchat_inbox):
    conversation = ConversationFactory(inbox=webchat_inbox)
    messages = [MessageFactory(conversation=conversation, text=f"line {i:03}") for i in range(130)]
    html = agent_client.get(f"/conversations/{conversation.pk}/").content.decode()
    assert "line 129" in html and "line 030" in html and "line 029" not in html
    before = re.search(r'earlier/\?before=([^"]+)"', html).group(1)
    earlier = agent_client.get(f"/conversations/{conversation.pk}/earlier/?before={before}").content.decode()
    assert "line 000" in earlier and "line 029" in earlier and "line 030" not in earlier
    assert "Load earlier" not in earlier
    assert len(messages) == 130


def test_sidebar_hides_addresses_known_only_from_other_inboxes(agent_client, webchat_inbox):
    chat = message_ingest(inbox=webchat_inbox, inbound=inbound("hi", address="visitor-7"))
    customer = chat.conversation.customer
    private = ConversationFactory(
        inbox=InboxFactory(kind="fake"),
        identity__customer=customer,
        identity__address="private@example.com",
        customer=customer,
    )
    MessageFactory(conversation=private)
    html = agent_client.get(f"/conversations/{chat.conversation_id}/").content.decode()
    assert "Web chat visitor" in html
    assert "private@example.com" not in html


def test_conversation_of_another_inbox_is_404(agent_client):
    other = ConversationFactory()
    assert agent_client.get(f"/conversations/{other.pk}/").status_code == 404
    assert agent_client.post(f"/conversations/{other.pk}/reply/", {"text": "hi"}).status_code == 404
    assert Message.objects.filter(direction="out").count() == 0


def test_htmx_request_gets_only_the_conversation_pane(agent_client, webchat_inbox):
    conversation = ConversationFactory(inbox=webchat_inbox)
    html = agent_client.get(f"/conversations/{conversation.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in html and 'id="composer"' in html


def test_reply_goes_out_on_the_conversation_channel(agent_client, fake_inbox, django_capture_on_commit_callbacks):
    conversation = message_ingest(
        inbox=fake_inbox, inbound=inbound("hi", kind="email", address="ada@example.com")
    ).conversation
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(
            f"/conversations/{conversation.pk}/reply/", {"text": "Hello Ada"}, headers={"HX-Request": "true"}
        )
    assert response.status_code == 200
    assert "Hello Ada" in response.content.decode()
    assert [(o.to.address, o.text) for o in fake.outbox] == [("ada@example.com", "Hello Ada")]
    assert Message.objects.get(direction="out").status == Message.Status.SENT


def test_empty_reply_is_refused_with_a_message(agent_client, webchat_inbox):
    conversation = ConversationFactory(inbox=webchat_inbox)
    response = agent_client.post(f"/conversations/{conversation.pk}/reply/", {"text": "  "})
    assert response.status_code == 422
    assert "Write something first" in response.content.decode()


def test_reply_without_csrf_token_is_refused(webchat_inbox, agent):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    conversation = ConversationFactory(inbox=webchat_inbox)
    assert client.post(f"/conversations/{conversation.pk}/reply/", {"text": "x"}).status_code == 403


def test_sync_returns_what_changed_since_the_cursor_in_my_inboxes_only(agent_client, webchat_inbox):
    before = timezone.now() - timedelta(minutes=10)
    message = message_ingest(inbox=webchat_inbox, inbound=inbound("missed while offline", address="v1"))
    hidden = MessageFactory(text="another inbox's news")
    hidden_customer = hidden.conversation.customer_id
    html = agent_client.get("/sync/", {"since": before.isoformat(), "customer": message.conversation.customer_id})
    html = html.content.decode()
    assert "missed while offline" in html
    assert f"conv-row-{message.conversation_id}" in html
    assert f"conv-row-{hidden.conversation_id}" not in html
    assert (
        "another inbox"
        not in agent_client.get("/sync/", {"since": before.isoformat(), "customer": hidden_customer}).content.decode()
    )


def test_sync_after_the_change_returns_nothing_old(agent_client, webchat_inbox):
    message_ingest(inbox=webchat_inbox, inbound=inbound("old news", address="v1"))
    cursor = re.search(r'id="rt-cursor"[^>]*data-cursor="([^"]+)"', agent_client.get("/").content.decode()).group(1)
    # The overlap window re-sends the last seconds (harmless); later changes are all that is new.
    later = (datetime.fromisoformat(cursor) + timedelta(seconds=6)).isoformat()
    assert "old news" not in agent_client.get("/sync/", {"since": later}).content.decode()


def test_sync_after_a_long_absence_asks_the_page_to_reload(agent_client, webchat_inbox):
    for _ in range(201):
        ConversationFactory(inbox=webchat_inbox)
    response = agent_client.get("/sync/", {"since": (timezone.now() - timedelta(hours=1)).isoformat()})
    assert response.headers["HX-Refresh"] == "true"


def test_workspace_pages_are_not_cached(agent_client):
    assert "no-store" in agent_client.get("/")["Cache-Control"]


def test_widget_try_page_is_for_the_inbox_agents_only(agent_client, webchat_inbox):
    from django.test import Client

    url = f"/try/{webchat_inbox.public_token}/"
    assert Client().get(url).status_code == 302  # to the login page
    page = agent_client.get(url).content.decode()
    assert f'data-inbox-token="{webchat_inbox.public_token}"' in page
    assert agent_client.get(f"/try/{InboxFactory(kind='webchat').public_token}/").status_code == 404
