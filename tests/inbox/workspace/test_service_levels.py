"""What agents see of service levels: the time to breach in the header and on each row, a Breaching
soon view with its count, and a Time to breach sort, each page at a fixed number of queries."""

from datetime import timedelta
from urllib.parse import unquote

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from conversations.actions import conversation_set_status
from conversations.ingest import message_ingest
from conversations.models import Conversation, SlaPolicy
from tests.helpers import inbound


@pytest.fixture
def timed(fake_inbox):
    SlaPolicy.objects.create(name="Fast", business_hours=False, first_response_seconds=3600)
    return fake_inbox


def write(inbox, address, minutes_ago):
    with time_machine.travel(timezone.now() - timedelta(minutes=minutes_ago), tick=False):
        return message_ingest(inbox=inbox, inbound=inbound("Hi", kind="email", address=address)).conversation_id


def test_the_header_and_the_row_show_the_time_to_breach(timed, agent_client):
    conversation = write(timed, "ada@example.com", 20)
    html = agent_client.get(reverse("workspace:conversation_detail", args=[conversation])).content.decode()
    assert "First response" in html and "in 40 min" in html and 'data-sla-due="' in html
    late = write(timed, "bo@example.com", 75)
    html = agent_client.get(reverse("workspace:conversation_list")).content.decode()
    row = html[html.index(f'id="conv-row-{late}"') :]
    assert "15 min late" in row[:3000] and 'class="sla breached"' in row[:3000]


def test_paused_shows_what_is_left(timed, agent_client, agent):
    conversation = write(timed, "ada@example.com", 20)
    conversation_set_status(conversation=Conversation.objects.get(pk=conversation), status="pending", actor=agent)
    html = agent_client.get(reverse("workspace:conversation_detail", args=[conversation])).content.decode()
    assert "paused, 40 min left" in html


def test_breaching_soon_lists_the_nearest_deadline_first_with_its_count(timed, agent_client):
    calm = write(timed, "calm@example.com", 1)  # due in 59 minutes: within the hour
    late = write(timed, "late@example.com", 90)
    soon = write(timed, "soon@example.com", 50)
    SlaPolicy.objects.update(first_response_seconds=7200)
    Conversation.objects.filter(pk=calm).update(sla_due_at=timezone.now() + timedelta(hours=3))
    html = agent_client.get(
        reverse("workspace:conversation_list"), {"view": "breaching", "sort": "sla"}
    ).content.decode()
    rows = [html.index(f'id="conv-row-{pk}"') for pk in (late, soon)]
    assert rows == sorted(rows) and f'id="conv-row-{calm}"' not in html
    assert 'data-count-for="breaching">2<' in html


def test_the_time_to_breach_sort_pages_without_repeating(timed, agent_client, django_assert_max_num_queries):
    ids = [write(timed, f"c{n}@example.com", 59 - n) for n in range(55)]
    with django_assert_max_num_queries(16):
        first = agent_client.get(reverse("workspace:conversation_list"), {"sort": "sla"}).content.decode()
    after = unquote(first.split("after=")[1].split('"')[0])
    second = agent_client.get(
        reverse("workspace:conversation_list"), {"sort": "sla", "after": after}, headers={"HX-Request": "true"}
    ).content.decode()
    shown = [pk for pk in ids if f'id="conv-row-{pk}"' in first] + [pk for pk in ids if f'id="conv-row-{pk}"' in second]
    assert sorted(shown) == sorted(ids) and len(shown) == 55
    assert first.index(f'id="conv-row-{ids[0]}"') < first.index(f'id="conv-row-{ids[1]}"')  # oldest wait first
