"""The Reports page on the hand-worked week: its charts show the figures, each chart's CSV is its table,
every conversation comes out as a row, and an agent sees their own work only."""

import csv
import io
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from tests.conversations.report_week import MONDAY, play
from tests.factories import MembershipFactory, UserFactory

WEEK = {"from": MONDAY.date().isoformat(), "to": (MONDAY + timedelta(days=6)).date().isoformat(), "tz": "UTC"}
CHARTS = ("volume", "channels", "sla", "csat", "heatmap", "attribution")


@pytest.fixture
def week(db, client, django_capture_on_commit_callbacks):
    return play(client, django_capture_on_commit_callbacks)


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(is_staff=True))
    return client


class Tables(HTMLParser):
    """The page's chart tables, by id: their rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self.current, self.row, self.cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and (attrs.get("id") or "").startswith("table-"):
            self.current = self.tables.setdefault(attrs["id"][6:], [])
        elif tag == "tr" and self.current is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            # A duration or a share reads as people say it; the cell keeps the figure itself.
            self.cell, self.value = "", attrs.get("data-value")

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.value if self.value is not None else self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.current.append(self.row)
            self.row = None
        elif tag == "table":
            self.current = None


def page_tables(client, query) -> dict:
    response = client.get(reverse("reports:report"), query)
    assert response.status_code == 200
    parser = Tables()
    parser.feed(response.content.decode())
    return parser.tables


def test_the_page_shows_the_weeks_figures_in_cards_and_charts(week, admin_client):
    response = admin_client.get(reverse("reports:report"), WEEK)
    html = response.content.decode()
    assert 'data-figure="opened">5<' in html and 'data-figure="messages">8 / 6<' in html
    assert 'data-figure="first_response">20 min<' in html  # the median of 10, 20, 30 min and 17 h
    assert 'data-figure="csat">67%<' in html
    assert html.count("<svg") == 5 and 'class="bar-in"' in html and 'class="heat"' in html


def test_business_hours_change_the_durations(week, admin_client):
    html = admin_client.get(reverse("reports:report"), {**WEEK, "clock": "business"}).content.decode()
    # First resolutions in business hours: 1 h, 1.5 h, 2 h, 3 h, 8 h → the median is 2 h.
    assert 'data-figure="first_resolution">2 h<' in html


@pytest.mark.parametrize("chart", CHARTS)
def test_each_charts_csv_is_its_table(week, admin_client, chart):
    table = page_tables(admin_client, WEEK)[chart]
    response = admin_client.get(reverse("reports:chart_export"), {**WEEK, "chart": chart})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    shown = [[cell if cell != "–" else "" for cell in row] for row in table]
    assert rows == shown and len(rows) > 1


def test_the_volume_csv_has_the_hand_counted_days(week, admin_client):
    response = admin_client.get(reverse("reports:chart_export"), {**WEEK, "chart": "volume"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1:5] == [
        ["2026-11-02", "4", "2"],
        ["2026-11-03", "1", "2"],
        ["2026-11-04", "2", "2"],
        ["2026-11-05", "1", "0"],
    ]


def test_every_conversation_is_a_row_of_the_export(week, admin_client):
    response = admin_client.get(reverse("reports:conversations_export"), WEEK)
    rows = list(csv.DictReader(io.StringIO(b"".join(response).decode())))
    by_id = {int(row["conversation"]): row for row in rows}
    assert set(by_id) == {week.conversations[key] for key in "ABCDE"}
    b = by_id[week.conversations["B"]]
    assert (b["first_response_seconds"], b["first_response_business_seconds"]) == ("61200", "3600")
    assert (b["resolutions"], b["reopens"], b["full_resolution_seconds"]) == ("2", "1", "70200")
    assert (
        b["sla_first_response"] == "breached" and by_id[week.conversations["E"]]["customer_first_channel"] == "webchat"
    )


def test_the_export_has_no_row_limit(db, admin_client, monkeypatch):
    from conversations.models import Conversation, ConversationFact
    from conversations.reports import rows
    from tests.factories import ConversationFactory, InboxFactory

    monkeypatch.setattr(rows, "PAGE", 100)  # pages of 100: the export goes on past three of them
    inbox = InboxFactory(kind="fake")
    conversations = [ConversationFactory(inbox=inbox) for _ in range(350)]
    ConversationFact.objects.bulk_create(
        [
            ConversationFact(
                conversation=c,
                inbox=inbox,
                channel="fake",
                customer_first_channel="fake",
                opened_at=c.created_at,
            )
            for c in conversations
        ]
    )
    response = admin_client.get(reverse("reports:conversations_export"), {"range": "7d"})
    assert b"".join(response).decode().count("\n") == 351
    assert Conversation.objects.count() == 350


def test_an_agent_sees_only_their_own_work_whatever_the_address_says(week, client):
    client.force_login(week.sam)
    html = client.get(reverse("reports:report"), {**WEEK, "agent": week.kim.pk}).content.decode()
    assert 'data-figure="opened">3<' in html  # A, C, E: his
    assert "Your work" in html and 'name="agent"' not in html
    outsider = UserFactory()
    MembershipFactory(user=outsider)
    client.force_login(outsider)
    html = client.get(reverse("reports:report"), {**WEEK, "inbox": week.mail.pk}).content.decode()
    assert 'data-figure="opened">0<' in html and "Support mail" not in html


def test_the_page_costs_the_same_queries_for_a_busy_week(week, admin_client, django_assert_num_queries):
    admin_client.get(reverse("reports:report"), WEEK)  # the week's days added up once
    with django_assert_num_queries(10):
        admin_client.get(reverse("reports:report"), WEEK)
    with django_assert_num_queries(10):  # a year of days costs the same
        admin_client.get(reverse("reports:report"), {"range": "12m"})


def test_a_bad_address_falls_back_to_the_last_30_days(db, admin_client):
    response = admin_client.get(
        reverse("reports:report"), {"from": "2026-13-45", "to": "x", "tz": "Mars/Base", "inbox": "99999999999999999999"}
    )
    assert response.status_code == 200 and b"Last 30 days" in response.content
