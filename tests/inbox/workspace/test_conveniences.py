"""What agents expect of a workspace: replying takes the conversation, priorities and their sort,
views saved per agent."""

import re

import pytest

from conversations.ingest import message_ingest
from conversations.models import Conversation
from inbox.models import AuditEntry, Inbox, SavedView
from tests.factories import UserFactory
from tests.helpers import inbound

pytestmark = pytest.mark.django_db


def conversation_of(inbox, address="ada@example.com", text="Hello"):
    return message_ingest(inbox=inbox, inbound=inbound(text, kind="email", address=address)).conversation


def test_replying_to_an_unassigned_conversation_assigns_it_to_the_replier(agent_client, agent, fake_inbox):
    conversation = conversation_of(fake_inbox)
    assert agent_client.post(f"/conversations/{conversation.pk}/reply/", {"text": "On it"}).status_code == 200
    conversation.refresh_from_db()
    assert conversation.assignee == agent
    entry = AuditEntry.objects.get(action="conversation.assign")
    assert entry.summary.endswith("by replying") and entry.actor == agent
    # Someone else's conversation stays theirs.
    kim = UserFactory(username="kim")
    from tests.factories import MembershipFactory

    MembershipFactory(inbox=fake_inbox, user=kim)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=kim)
    agent_client.post(f"/conversations/{conversation.pk}/reply/", {"text": "Adding a detail"})
    conversation.refresh_from_db()
    assert conversation.assignee == kim


def test_an_inbox_can_leave_replied_conversations_unassigned(agent_client, fake_inbox):
    Inbox.objects.filter(pk=fake_inbox.pk).update(assign_on_reply=False)
    conversation = conversation_of(fake_inbox)
    agent_client.post(f"/conversations/{conversation.pk}/reply/", {"text": "On it"})
    conversation.refresh_from_db()
    assert conversation.assignee is None


def test_priority_is_set_audited_shown_and_sorts_the_list_across_pages(agent_client, agent, fake_inbox):
    low = conversation_of(fake_inbox, "a@example.com", "low")
    urgent = conversation_of(fake_inbox, "b@example.com", "urgent")
    none = conversation_of(fake_inbox, "c@example.com", "none")
    high = conversation_of(fake_inbox, "d@example.com", "high")
    for conversation, priority in ((low, 1), (urgent, 4), (high, 3)):
        response = agent_client.post(f"/conversations/{conversation.pk}/priority/", {"priority": priority})
        assert response.status_code == 200
    assert 'id="priority-select"' in response.content.decode()
    assert agent_client.post(f"/conversations/{low.pk}/priority/", {"priority": "9"}).status_code == 422
    entry = AuditEntry.objects.filter(action="conversation.priority").latest("id")
    assert entry.details == {"from": "No priority", "to": "High"}
    page = agent_client.get("/?sort=priority").content.decode()
    order = [int(pk) for pk in re.findall(r'id="conv-row-(\d+)"', page)]
    assert order == [urgent.pk, high.pk, low.pk, none.pk]
    assert '<span class="priority priority-4">Urgent</span>' in page
    # Two to a page: the cursor carries the rank, and the second page goes on where the first stopped.
    from conversations.selectors import Cursor, ListState, conversation_list

    first, cursor = conversation_list(user=agent, state=ListState(sort="priority"), limit=2)
    assert [c.pk for c in first] == [urgent.pk, high.pk] and cursor.rank == 3
    rest, _ = conversation_list(user=agent, state=ListState(sort="priority"), after=Cursor.decode(cursor.encode()))
    assert [c.pk for c in rest] == [low.pk, none.pk]


def test_views_are_saved_per_agent_and_keep_only_what_the_list_reads(agent_client, agent, fake_inbox):
    response = agent_client.post(
        "/views/save/", {"name": "  Urgent   mail ", "query": f"sort=priority&inbox={fake_inbox.pk}&evil=<x>"}
    )
    assert response.status_code == 204
    view = SavedView.objects.get(user=agent)
    assert view.name == "Urgent mail" and view.query == f"inbox={fake_inbox.pk}&sort=priority"
    page = agent_client.get("/").content.decode()
    assert f'href="/?inbox={fake_inbox.pk}&amp;sort=priority"' in page and "Urgent mail" in page
    from django.test import Client

    someone_else = Client()
    someone_else.force_login(UserFactory())
    assert "Urgent mail" not in someone_else.get("/").content.decode()  # each agent's own
    assert agent_client.post(f"/views/{view.pk}/delete/").status_code == 204
    assert not SavedView.objects.exists()
