"""The audit log: agents' actions leave entries saying who did what, where and when, and admins read
them on /settings/audit/ (filtered, paged, as CSV). Agents never see it."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conversations.actions import conversations_wake_snoozed
from conversations.ingest import message_ingest
from conversations.models import CannedResponse, Label
from customers.models import CustomerMerge
from inbox.audit.record import audit_record
from inbox.models import AuditEntry, Team
from tests.factories import ConversationFactory, InboxFactory, MembershipFactory, MessageFactory, UserFactory
from tests.helpers import inbound

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<tr id="audit-(\d+)"')


@pytest.fixture
def ada(fake_inbox):
    """Ada's conversation in the agent's inbox (its first message)."""
    return message_ingest(
        inbox=fake_inbox, inbound=inbound("Where is my parcel?", kind="email", address="ada@x.org", name="Ada")
    ).conversation


@pytest.fixture
def kim(fake_inbox):
    return MembershipFactory(inbox=fake_inbox, user=UserFactory(username="kim", first_name="Kim")).user


@pytest.fixture
def staff():
    return UserFactory(username="root", first_name="Rita", is_staff=True)


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def act(client, conversation, action, data):
    return client.post(f"/conversations/{conversation.pk}/{action}/", data, headers={"HX-Request": "true"})


def entries(action):
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


def row_ids(response) -> list[int]:
    return [int(pk) for pk in ROW.findall(response.content.decode())]


# ---- what gets recorded -----------------------------------------------------------------------------


def test_assigning_and_handing_to_a_team_record_who_gave_it_to_whom(agent_client, agent, ada, kim, fake_inbox):
    assert act(agent_client, ada, "assign", {"assignee": kim.pk}).status_code == 200
    assert act(agent_client, ada, "assign", {"assignee": ""}).status_code == 200
    assert act(agent_client, ada, "assign", {"assignee": ""}).status_code == 200  # no change: no entry
    assign, unassign = entries("conversation.assign")
    assert (assign.actor, assign.inbox, assign.target_type, assign.target_id) == (
        agent,
        fake_inbox,
        "conversation",
        ada.pk,
    )
    assert assign.summary == f"Assigned conversation #{ada.pk} (Ada) to Kim"
    assert assign.details == {"from": None, "from_name": None, "to": kim.pk, "to_name": "Kim"}
    assert unassign.summary == f"Unassigned conversation #{ada.pk} (Ada) (was Kim)"

    billing = Team.objects.create(name="Billing")
    assert act(agent_client, ada, "assign", {"team": billing.pk}).status_code == 200
    (team,) = entries("conversation.team")
    assert team.actor == agent and team.summary == f"Handed conversation #{ada.pk} (Ada) to team Billing"


def test_status_changes_and_snoozes_record_from_and_to(agent_client, admin_client, agent, ada, fake_inbox):
    act(agent_client, ada, "status", {"status": "resolved"})
    act(agent_client, ada, "status", {"status": "resolved"})  # already resolved: nothing changed
    act(agent_client, ada, "status", {"status": "snoozed", "until": "2099-03-01T09:00", "tz": "Europe/Paris"})
    resolved, snoozed = entries("conversation.status")
    assert resolved.summary == f"Resolved conversation #{ada.pk} (Ada) (was open)"
    assert (resolved.actor, resolved.inbox, resolved.target_id) == (agent, fake_inbox, ada.pk)
    assert resolved.details["from"] == "open" and resolved.details["to"] == "resolved"
    # 9:00 in Paris is 8:00 UTC in March: the details keep the moment, and the log shows it in the
    # reader's own time zone (a <time> element), never as "UTC" inside the text.
    assert snoozed.summary == f"Snoozed conversation #{ada.pk} (Ada) (was resolved)"
    assert snoozed.details["snoozed_until"].startswith("2099-03-01T08:00:00")
    page = admin_client.get("/settings/audit/").content.decode()
    row = page[page.index(f'id="audit-{snoozed.pk}"') :]
    row = row[: row.index("</tr>")]
    assert ' · until <time datetime="2099-03-01T08:00:00' in row and "UTC" not in row


def test_the_end_of_a_snooze_is_recorded_as_the_system(agent_client, ada, fake_inbox):
    act(agent_client, ada, "status", {"status": "snoozed", "for": "1h"})
    assert conversations_wake_snoozed(now=timezone.now() + timedelta(hours=2)) == [ada.pk]
    woken = AuditEntry.objects.filter(action="conversation.status").latest("id")
    assert woken.actor is None and woken.actor_name == "system"
    assert woken.summary == f"Snooze ended: reopened conversation #{ada.pk} (Ada)"
    assert (woken.inbox, woken.target_id) == (fake_inbox, ada.pk)


def test_labels_record_what_was_added_and_removed(agent_client, agent, ada):
    vip, spam = Label.objects.create(name="vip"), Label.objects.create(name="spam")
    act(agent_client, ada, "labels", {"labels": [vip.pk]})
    act(agent_client, ada, "labels", {"labels": [spam.pk]})
    act(agent_client, ada, "labels", {"labels": [spam.pk]})  # the same labels again: no entry
    added, swapped = entries("conversation.labels")
    assert added.summary == f"Labels of conversation #{ada.pk} (Ada): added vip" and added.actor == agent
    assert swapped.summary == f"Labels of conversation #{ada.pk} (Ada): added spam; removed vip"
    assert swapped.details == {"added": ["spam"], "removed": ["vip"]}


def test_bulk_actions_record_one_entry_per_conversation_they_changed(agent_client, agent, fake_inbox, kim):
    vip = Label.objects.create(name="vip")
    first, second = ConversationFactory(inbox=fake_inbox), ConversationFactory(inbox=fake_inbox)
    foreign = ConversationFactory(inbox=InboxFactory(kind="fake"))  # not the agent's: untouched, unlogged
    second.labels.add(vip)
    ids = [first.pk, second.pk, foreign.pk]
    agent_client.post("/conversations/bulk/", {"ids": ids, "action": "resolve"})
    agent_client.post("/conversations/bulk/", {"ids": ids, "action": "resolve"})  # changes nothing more
    agent_client.post("/conversations/bulk/", {"ids": ids, "action": "label", "value": vip.pk})
    agent_client.post("/conversations/bulk/", {"ids": ids, "action": "assign", "value": kim.pk})
    assert sorted(e.target_id for e in entries("conversation.status")) == [first.pk, second.pk]
    (labelled,) = entries("conversation.labels")  # the second had the label already
    assert labelled.target_id == first.pk and labelled.details["bulk"] is True
    assert sorted(e.target_id for e in entries("conversation.assign")) == [first.pk, second.pk]
    assert {e.actor for e in AuditEntry.objects.all()} == {agent}
    assert {e.inbox for e in AuditEntry.objects.all()} == {fake_inbox}


def test_merge_and_its_undo_are_recorded(agent_client, agent, fake_inbox):
    ada = message_ingest(inbox=fake_inbox, inbound=inbound("by mail", kind="email", address="ada@x.org", name="Ada"))
    phone = message_ingest(inbox=fake_inbox, inbound=inbound("by phone", kind="email", address="ada@y.org"))
    target, source = ada.conversation.customer, phone.conversation.customer
    agent_client.post(f"/customers/{target.pk}/merge/", {"other": source.pk})
    merge = CustomerMerge.objects.get()
    agent_client.post(f"/merges/{merge.pk}/undo/")
    (merged,) = entries("customer.merge")
    assert (
        merged.summary
        == f"Merged customer #{source.pk} into customer #{target.pk} (Ada): 1 conversation, 1 address moved"
    )
    assert (merged.actor, merged.inbox, merged.target_type, merged.target_id) == (
        agent,
        fake_inbox,
        "customer",
        target.pk,
    )
    assert merged.details["conversation_ids"] == [phone.conversation_id] and merged.details["merge_id"] == merge.pk
    (undone,) = entries("customer.merge_undo")
    assert undone.actor == agent and undone.target_id == source.pk
    assert undone.summary == f"Undid the merge of customer #{source.pk} into customer #{target.pk} (Ada)"


def test_a_merge_across_inboxes_names_no_one_inbox_but_lists_them(agent, fake_inbox):
    from customers.services import customer_merge

    elsewhere = InboxFactory(kind="fake")
    one = message_ingest(inbox=fake_inbox, inbound=inbound("a", kind="email", address="b@x.org", name="Bo"))
    two = message_ingest(inbox=elsewhere, inbound=inbound("b", kind="email", address="b@y.org"))
    customer_merge(source=two.conversation.customer, target=one.conversation.customer, actor=agent)
    (merged,) = entries("customer.merge")
    assert merged.inbox is None and merged.details["inbox_ids"] == sorted([fake_inbox.pk, elsewhere.pk])


def test_retrying_a_failed_reply_is_recorded_and_linked_to_its_conversation(
    agent_client, agent, ada, fake_inbox, staff_client, django_capture_on_commit_callbacks
):
    failed = MessageFactory(
        conversation=ada,
        direction="out",
        sender_type="agent",
        status="failed",
        status_detail="Timed out",
        external_id=None,
    )
    with django_capture_on_commit_callbacks(execute=True):
        agent_client.post(f"/messages/{failed.pk}/retry/")
    agent_client.post(f"/messages/{failed.pk}/retry/")  # sent by now: nothing to retry, nothing logged
    (retry,) = entries("message.retry")
    assert (retry.actor, retry.inbox, retry.target_type, retry.target_id) == (agent, fake_inbox, "message", failed.pk)
    assert retry.summary == f"Retried a failed reply in conversation #{ada.pk} (Ada)"
    assert retry.details == {"conversation_id": ada.pk, "reason": "Timed out"}
    page = staff_client.get("/settings/audit/").content.decode()
    assert f'href="/conversations/{ada.pk}/"><span dir="auto">Retried a failed reply' in page


def test_deleting_a_canned_response_is_recorded_keeping_a_shared_ones_text(agent_client, agent, staff, staff_client):
    mine = CannedResponse.objects.create(shortcut="thanks", text="Thank you kindly!", owner=agent)
    shared = CannedResponse.objects.create(shortcut="refund", text="Refunds take 5 days.")
    agent_client.post(f"/canned/{mine.pk}/delete/")
    staff_client.post(f"/canned/{shared.pk}/delete/")
    assert agent_client.post(f"/canned/{shared.pk}/delete/").status_code == 404  # gone: nothing more logged
    personal, team_wide = entries("canned.delete")
    assert (personal.actor, personal.summary) == (agent, "Deleted the personal canned response /thanks")
    assert "text" not in personal.details
    assert (team_wide.actor, team_wide.summary) == (staff, "Deleted the shared canned response /refund")
    assert team_wide.details["text"] == "Refunds take 5 days."
    assert not CannedResponse.objects.exists()


def test_a_private_note_never_reaches_the_log(agent_client, ada, kim, staff_client):
    secret = "card ends 4242, PIN 1234"
    act(agent_client, ada, "reply", {"mode": "note", "text": f"@kim {secret}"})
    act(agent_client, ada, "assign", {"assignee": kim.pk})
    act(agent_client, ada, "status", {"status": "resolved"})
    assert AuditEntry.objects.count() == 2  # the assignment and the status; the note is not an entry
    for entry in AuditEntry.objects.all():
        assert "4242" not in entry.summary and "4242" not in str(entry.details)
    assert "4242" not in staff_client.get("/settings/audit/").content.decode()
    assert "4242" not in b"".join(staff_client.get("/settings/audit/export.csv")).decode()


def test_secrets_never_reach_the_log_however_deeply_a_caller_nests_them(fake_inbox):
    entry = audit_record(
        actor=None,
        action="inbox.update",
        summary="Changed the inbox",
        inbox=fake_inbox,
        target=fake_inbox,
        details={
            "name": {"from": "Old", "to": "New"},
            "credentials": {"imap": {"password": "hunter2"}},
            "settings": {"smtp_password": "hunter2", "webhook_secrets": ["s1", "s2"], "greeting": "Hi"},
            "changed_at": datetime(2030, 1, 2, 3, 4, tzinfo=UTC),  # times are stored as text, not refused
        },
    )
    entry.refresh_from_db()
    assert "hunter2" not in str(entry.details) and "s1" not in str(entry.details)
    assert entry.details["settings"] == {"smtp_password": "(changed)", "webhook_secrets": "(changed)", "greeting": "Hi"}
    assert entry.details["name"] == {"from": "Old", "to": "New"}
    assert entry.details["changed_at"].startswith("2030-01-02T03:04:00")
    assert (entry.actor_name, entry.target_type, entry.target_id) == ("system", "inbox", fake_inbox.pk)


def test_an_action_refused_or_rolled_back_leaves_no_entry(agent_client, ada):
    outsider = UserFactory()
    assert act(agent_client, ada, "assign", {"assignee": outsider.pk}).status_code == 422
    assert act(agent_client, ada, "status", {"status": "snoozed", "until": "2001-01-01T09:00"}).status_code == 422
    assert not AuditEntry.objects.exists()


# ---- the page ----------------------------------------------------------------------------------------


def test_the_page_shows_who_did_what_when_and_where_newest_first(agent_client, ada, kim, staff_client, fake_inbox):
    act(agent_client, ada, "assign", {"assignee": kim.pk})
    act(agent_client, ada, "status", {"status": "resolved"})
    assign, resolve = AuditEntry.objects.order_by("id")
    response = staff_client.get("/settings/audit/")
    page = response.content.decode()
    assert response.status_code == 200
    assert row_ids(response) == [resolve.pk, assign.pk]  # newest first
    summary = f"Assigned conversation #{ada.pk} (Ada) to Kim"
    assert f'<a href="/conversations/{ada.pk}/"><span dir="auto">{summary}</span></a>' in page
    assert f'<time datetime="{assign.at.isoformat()}">' in page  # shown in the reader's zone by the page
    row = page[page.index(f'id="audit-{assign.pk}"') :]
    row = row[: row.index("</tr>")]
    assert assign.actor_name in row and fake_inbox.name in row and "conversation.assign" in row
    assert 'aria-current="page">Audit log</a>' in page  # the settings nav marks where we are


def test_filters_by_actor_action_inbox_and_dates_and_keep_them_in_the_address(staff_client, fake_inbox):
    sam, lee = UserFactory(first_name="Sam"), UserFactory(first_name="Lee")
    other = InboxFactory(name="Other")
    now = timezone.now()

    def entry(actor, action, inbox, days_ago):
        made = audit_record(actor=actor, action=action, summary=f"{action} by {actor}", inbox=inbox)
        AuditEntry.objects.filter(pk=made.pk).update(at=now - timedelta(days=days_ago))
        return made.pk

    a = entry(sam, "conversation.assign", fake_inbox, 0)
    b = entry(lee, "conversation.status", other, 1)
    c = entry(sam, "canned.delete", None, 10)
    d = entry(None, "conversation.status", fake_inbox, 2)

    def shown(**query):
        response = staff_client.get("/settings/audit/", query)
        assert response.status_code == 200
        return set(row_ids(response))

    assert shown() == {a, b, c, d}
    assert shown(actor=sam.pk) == {a, c}
    assert shown(actor="system") == {d}
    assert shown(action="conversation.status") == {b, d}
    assert shown(action="conversation") == {a, b, d}  # a family of kinds
    assert shown(inbox=other.pk) == {b}
    day = lambda days_ago: (now - timedelta(days=days_ago)).date().isoformat()  # noqa: E731
    assert shown(**{"from": day(2)}) == {a, b, d}
    assert shown(**{"from": day(2), "to": day(1)}) == {b, d}
    assert shown(**{"to": day(3)}) == {c}
    assert shown(actor=sam.pk, action="conversation", inbox=fake_inbox.pk) == {a}
    assert shown(actor="nobody", inbox="x", **{"from": "yesterday"}) == {a, b, c, d}  # nonsense is ignored
    # The form shows the filters it applied, and the export link carries them.
    page = staff_client.get("/settings/audit/", {"actor": sam.pk, "inbox": other.pk, "from": day(2)}).content.decode()
    assert f'<option value="{sam.pk}" selected>Sam</option>' in page
    assert f'<option value="{other.pk}" selected>Other</option>' in page and f'value="{day(2)}"' in page
    assert f'/settings/audit/export.csv?actor={sam.pk}&amp;inbox={other.pk}&amp;from={day(2)}"' in page
    assert "Nothing matches these filters." in page


def test_a_day_in_the_filter_is_the_readers_day(staff_client, fake_inbox):
    from datetime import UTC, datetime

    made = audit_record(actor=None, action="conversation.status", summary="late", inbox=fake_inbox)
    # 23:30 UTC on 1 March is already 2 March in Kuala Lumpur (UTC+8).
    AuditEntry.objects.filter(pk=made.pk).update(at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))

    def shown(**query):
        return set(row_ids(staff_client.get("/settings/audit/", query)))

    assert shown(**{"from": "2026-03-02", "to": "2026-03-02", "tz": "Asia/Kuala_Lumpur"}) == {made.pk}
    assert shown(**{"from": "2026-03-01", "to": "2026-03-01", "tz": "Asia/Kuala_Lumpur"}) == set()
    assert shown(**{"from": "2026-03-01", "to": "2026-03-01", "tz": "Not/AZone"}) == {made.pk}  # UTC then


def test_paging_walks_back_through_older_entries_without_duplicates(staff_client, fake_inbox):
    at = timezone.now()
    made = [
        audit_record(actor=None, action="conversation.status", summary=f"#{n}", inbox=fake_inbox) for n in range(120)
    ]
    # Many entries in the same instant: the id breaks the tie, so no page repeats or skips one.
    AuditEntry.objects.filter(pk__in=[e.pk for e in made[40:90]]).update(at=at)
    audit_record(actor=None, action="canned.delete", summary="filtered out")
    expected = list(
        AuditEntry.objects.filter(action="conversation.status").order_by("-at", "-id").values_list("pk", flat=True)
    )
    response = staff_client.get("/settings/audit/", {"action": "conversation.status"})
    seen, pages = row_ids(response), 1
    while match := re.search(r'hx-get="([^"]+)"', response.content.decode()):
        url = match.group(1).replace("&amp;", "&")
        assert "action=conversation.status" in url  # the next page keeps the filters
        response = staff_client.get(url, headers={"HX-Request": "true"})
        assert "<form" not in response.content.decode()  # just the rows, for the infinite scroll
        seen += row_ids(response)
        pages += 1
    assert pages == 3 and seen == expected and len(set(seen)) == 120
    # Without script, "Older" opens the next page as a whole page.
    first = staff_client.get("/settings/audit/", {"action": "conversation.status"}).content.decode()
    older = re.search(r'<a href="([^"]+)">Older</a>', first).group(1).replace("&amp;", "&")
    assert row_ids(staff_client.get(older)) == expected[50:100]


@pytest.mark.parametrize("url", ["/settings/audit/", "/settings/audit/export.csv"])
def test_agents_get_403_and_strangers_the_login_page(agent_client, client, url, ada):
    assert agent_client.get(url).status_code == 403
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("count", [5, 50])
def test_the_page_costs_the_same_queries_for_5_or_50_entries(staff_client, django_assert_num_queries, count):
    inboxes = [InboxFactory(kind="fake") for _ in range(3)]
    actors = [UserFactory() for _ in range(3)]
    for n in range(count):
        conversation = ConversationFactory(inbox=inboxes[n % 3])
        audit_record(
            actor=actors[n % 3],
            action="conversation.assign",
            summary=f"Assigned #{n}",
            inbox=inboxes[n % 3],
            target=conversation,
        )
    staff_client.get("/settings/audit/")  # the browser's first visit records the session itself
    # The session, the admin, the page of entries (with their inboxes' names), and the filters'
    # people and inboxes.
    with django_assert_num_queries(5):
        response = staff_client.get("/settings/audit/")
    assert len(row_ids(response)) == count


def test_the_csv_export_has_every_entry_the_filters_match_and_defuses_formulas(staff_client, fake_inbox, agent):
    audit_record(actor=agent, action="conversation.assign", summary='=HYPERLINK("http://evil")', inbox=fake_inbox)
    for n in range(3):
        audit_record(actor=None, action="conversation.status", summary=f"Resolved #{n}", inbox=fake_inbox)
    response = staff_client.get("/settings/audit/export.csv", {"action": "conversation.status"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response).decode())))
    assert [row["summary"] for row in rows] == ["Resolved #2", "Resolved #1", "Resolved #0"]
    assert {row["actor"] for row in rows} == {"system"} and {row["inbox"] for row in rows} == {fake_inbox.name}
    everything = staff_client.get("/settings/audit/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(everything).decode())))
    assert len(rows) == 4 and rows[-1]["summary"] == '\'=HYPERLINK("http://evil")'  # text, not a formula


def test_the_csv_export_streams_past_one_page(staff_client, fake_inbox, monkeypatch):
    from inbox.audit import views as audit_views

    monkeypatch.setattr(audit_views, "EXPORT_PAGE", 7)
    for n in range(20):
        audit_record(actor=None, action="conversation.status", summary=f"#{n}", inbox=fake_inbox)
    body = b"".join(staff_client.get("/settings/audit/export.csv")).decode()
    assert [row["summary"] for row in csv.DictReader(io.StringIO(body))] == [f"#{n}" for n in reversed(range(20))]
