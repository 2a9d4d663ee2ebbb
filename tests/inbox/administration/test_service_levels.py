"""Settings → Service levels: an admin writes a policy as spans of time, its conditions pick the
conversations, and what is already open follows at once."""

import pytest
from django.urls import reverse

from conversations.ingest import message_ingest
from conversations.models import Conversation, SlaPolicy
from inbox.models import AuditEntry
from tests.factories import InboxFactory, UserFactory
from tests.helpers import inbound


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(is_staff=True))
    return client


def test_an_admin_adds_a_policy_and_open_conversations_follow_it(admin_client, django_capture_on_commit_callbacks):
    inbox = InboxFactory(kind="fake")
    open_one = message_ingest(inbox=inbox, inbound=inbound("Hi", kind="email", address="ada@example.com"))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("settings:sla_policies"),
            {
                "name": "Mail within 4h",
                "first_response_seconds": "4h",
                "resolution_seconds": "1d 4h",
                "inbox": inbox.pk,
                "is_active": "on",
            },
        )
    assert response.status_code == 302
    policy = SlaPolicy.objects.get()
    assert (policy.first_response_seconds, policy.resolution_seconds, policy.business_hours) == (14400, 100800, False)
    assert Conversation.objects.get(pk=open_one.conversation_id).sla_policy == policy
    assert AuditEntry.objects.filter(action="sla_policy.create").exists()
    page = admin_client.get(reverse("settings:sla_policies")).content.decode()
    assert "Mail within 4h" in page and "4 h" in page and "1 d 4 h" in page


def test_a_target_must_be_a_span_and_one_is_needed(admin_client):
    response = admin_client.post(reverse("settings:sla_policies"), {"name": "Odd", "first_response_seconds": "soon"})
    assert response.status_code == 422 and "Write a span of time" in response.content.decode()
    response = admin_client.post(reverse("settings:sla_policies"), {"name": "Empty"})
    assert response.status_code == 422 and "Give at least one target" in response.content.decode()
    assert not SlaPolicy.objects.exists()


def test_agents_cannot_reach_service_levels(agent_client):
    assert agent_client.get(reverse("settings:sla_policies")).status_code == 403


def test_the_inbox_form_sets_the_survey(admin_client, db):
    from conversations.models import Label

    vip = Label.objects.create(name="VIP")
    inbox = InboxFactory(kind="fake", name="Shop")
    page = admin_client.get(reverse("settings:inbox_detail", args=[inbox.pk])).content.decode()
    assert "Satisfaction survey" in page and "Ask for satisfaction" in page
    assert f'<option value="{vip.pk}">VIP</option>' in page
