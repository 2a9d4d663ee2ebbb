"""Contacts: the list and a contact's page, at a fixed number of queries; every edit audited."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.ingest import message_ingest
from customers.models import Company, ContactIdentity, Customer
from inbox.models import AuditEntry
from tests.factories import InboxFactory
from tests.helpers import inbound

pytestmark = pytest.mark.django_db


def write(inbox, address, name, text="Hello"):
    return message_ingest(inbox=inbox, inbound=inbound(text, kind="email", address=address, name=name)).conversation


@pytest.fixture
def people(email_inbox_of_agent):
    inbox = email_inbox_of_agent
    for n in range(60):
        write(inbox, f"person{n:02d}@example.com", f"Person {n:02d}")
    return inbox


@pytest.fixture
def email_inbox_of_agent(agent):
    from tests.factories import MembershipFactory

    inbox = InboxFactory(kind="email", name="Mail", settings={"address": "help@shop.example"})
    MembershipFactory(inbox=inbox, user=agent)
    return inbox


def queries_of(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response, len(queries)


def test_the_contact_list_costs_the_same_queries_for_10_or_60_people(agent_client, email_inbox_of_agent):
    inbox = email_inbox_of_agent
    for n in range(10):
        write(inbox, f"early{n}@example.com", f"Early {n}")
    _, few = queries_of(agent_client, "/contacts/")
    for n in range(50):
        write(inbox, f"late{n}@example.com", f"Late {n}")
    page, many = queries_of(agent_client, "/contacts/")
    assert few == many, f"{few} queries for 10 people, {many} for 60"
    assert many <= 7  # the session, the user, the rows, their addresses, the companies
    assert page.content.decode().count('<tr id="contact-') == 50  # one page, the next one on scroll


def test_the_list_pages_by_keyset_searches_and_sorts(agent_client, people):
    first = agent_client.get("/contacts/?sort=name").content.decode()
    assert first.index("Person 00") < first.index("Person 49") and "Person 50" not in first
    after = first.split("after=")[1].split('"')[0].replace("&amp;", "&")
    rest = agent_client.get(f"/contacts/?sort=name&after={after}", headers={"HX-Request": "true"}).content.decode()
    assert rest.count('<tr id="contact-') == 10 and "Person 50" in rest and "Person 49" not in rest
    found = agent_client.get("/contacts/?q=person07@").content.decode()
    assert found.count('<tr id="contact-') == 1 and "Person 07" in found
    assert "No contact matches." in agent_client.get("/contacts/?q=nobody-at-all").content.decode()


def test_a_contact_page_costs_a_fixed_number_of_queries(agent_client, email_inbox_of_agent):
    conversation = write(email_inbox_of_agent, "ada@example.com", "Ada Lovelace")
    customer = conversation.customer
    _, before = queries_of(agent_client, f"/contacts/{customer.pk}/")
    for n in range(15):
        write(email_inbox_of_agent, "ada@example.com", "Ada Lovelace", text=f"Again {n}")
    agent_client.post(f"/contacts/{customer.pk}/", {"name": "Ada King", "company": "Analytical Engines"})
    page, after = queries_of(agent_client, f"/contacts/{customer.pk}/")
    assert before == after and after <= 10
    assert "Ada King" in page.content.decode() and "Analytical Engines" in page.content.decode()


def test_editing_a_contact_is_audited_change_by_change(agent_client, agent, email_inbox_of_agent):
    customer = write(email_inbox_of_agent, "ada@example.com", "Ada").customer
    response = agent_client.post(
        f"/contacts/{customer.pk}/",
        {"name": "Ada Lovelace", "company": "Analytical Engines", "attr_key": ["plan", ""], "attr_value": ["Gold", ""]},
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Ada Lovelace" and customer.company.name == "Analytical Engines"
    assert customer.attributes == {"plan": "Gold"}
    entry = AuditEntry.objects.get(action="customer.update")
    assert entry.actor == agent and entry.target_id == customer.pk
    assert entry.details["name"] == {"from": "Ada", "to": "Ada Lovelace"}
    assert entry.details["attributes"] == {"from": {}, "to": {"plan": "Gold"}}
    # Saving again unchanged records nothing; removing the attribute does.
    agent_client.post(
        f"/contacts/{customer.pk}/",
        {"name": "Ada Lovelace", "company": "Analytical Engines", "attr_key": ["plan"], "attr_value": ["Gold"]},
    )
    assert AuditEntry.objects.filter(action="customer.update").count() == 1
    agent_client.post(
        f"/contacts/{customer.pk}/",
        {"name": "Ada Lovelace", "company": "Analytical Engines", "attr_key": [""], "attr_value": ["Gold"]},
    )
    customer.refresh_from_db()
    assert customer.attributes == {} and AuditEntry.objects.filter(action="customer.update").count() == 2
    page = agent_client.get(f"/contacts/{customer.pk}/").content.decode()
    assert "Changed attributes of Ada Lovelace" in page


def test_addresses_are_added_normalized_and_never_taken_from_someone_else(agent_client, email_inbox_of_agent):
    ada = write(email_inbox_of_agent, "ada@example.com", "Ada").customer
    write(email_inbox_of_agent, "grace@example.com", "Grace")
    url = f"/contacts/{ada.pk}/addresses/"
    assert agent_client.post(url, {"kind": "phone", "address": "+44 20 7946 0000"}).status_code == 302
    assert ContactIdentity.objects.filter(customer=ada, kind="phone", address="+442079460000").exists()
    taken = agent_client.post(url, {"kind": "email", "address": "Grace@Example.com"})
    assert taken.status_code == 422 and "belongs to Grace: merge the two contacts instead" in taken.content.decode()
    bad = agent_client.post(url, {"kind": "phone", "address": "call me"})
    assert bad.status_code == 422 and "is not a phone number" in bad.content.decode()
    phone = ContactIdentity.objects.get(kind="phone")
    assert agent_client.post(f"/contacts/{ada.pk}/addresses/{phone.pk}/remove/").status_code == 302
    email = ContactIdentity.objects.get(address="ada@example.com")
    kept = agent_client.post(f"/contacts/{ada.pk}/addresses/{email.pk}/remove/")
    assert kept.status_code == 422 and "has conversations" in kept.content.decode()
    assert [e.action for e in AuditEntry.objects.order_by("id")] == [
        "customer.identity_add",
        "customer.identity_remove",
    ]


def test_a_company_lists_its_people(agent_client, email_inbox_of_agent):
    company = Company.objects.create(name="Analytical Engines")
    for name in ("Ada", "Charles"):
        customer = write(email_inbox_of_agent, f"{name.lower()}@engines.example", name).customer
        Customer.objects.filter(pk=customer.pk).update(company=company)
    page = agent_client.get(f"/companies/{company.pk}/").content.decode()
    assert "Ada" in page and "Charles" in page
    listing = agent_client.get("/contacts/").content.decode()
    assert "Analytical Engines (2)" in listing
    assert (
        agent_client.post(f"/companies/{company.pk}/", {"name": "Engines Ltd", "domain": "Engines.example"}).status_code
        == 302
    )
    company.refresh_from_db()
    assert (company.name, company.domain) == ("Engines Ltd", "engines.example")
