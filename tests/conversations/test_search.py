from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Message
from conversations.search import search
from customers.models import ContactIdentity, Customer
from tests.factories import (
    ConversationFactory,
    CustomerFactory,
    IdentityFactory,
    InboxFactory,
    MembershipFactory,
    MessageFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def message_in(inbox, text, **conversation):
    return MessageFactory(text=text, conversation=ConversationFactory(inbox=inbox, **conversation))


def customer_with_conversation(inbox, name, *, kind=ContactIdentity.Kind.EMAIL, address, display="", **conversation):
    identity = IdentityFactory(customer=CustomerFactory(name=name), kind=kind, address=address, display=display)
    return ConversationFactory(inbox=inbox, identity=identity, **conversation)


@pytest.mark.parametrize("typed", ["refund", "REFUNDS", "refu", "late refund"])
def test_finds_a_message_by_a_word_or_the_start_of_one(agent, webchat_inbox, typed):
    message = message_in(webchat_inbox, "Hello, my refunds are late. Order 1234")
    message_in(webchat_inbox, "Where is my parcel?")

    [hit] = search(user=agent, query=typed).conversations

    assert hit.conversation == message.conversation
    assert hit.message_id == message.pk
    assert "<mark>refunds</mark>" in hit.snippet


def test_finds_a_conversation_by_its_subject(agent, webchat_inbox):
    conversation = ConversationFactory(inbox=webchat_inbox, subject="Invoice question for March")
    MessageFactory(conversation=conversation, text="Hi there")

    [hit] = search(user=agent, query="invoice").conversations

    assert (hit.conversation, hit.message_id) == (conversation, None)
    assert hit.snippet == "<mark>Invoice</mark> question for March"


def test_conversations_come_newest_match_first_one_hit_each(agent, webchat_inbox):
    old = ConversationFactory(inbox=webchat_inbox)
    new = ConversationFactory(inbox=webchat_inbox)
    older_hit = MessageFactory(conversation=old, text="refund please")
    MessageFactory(conversation=new, text="refund one")
    newest = MessageFactory(conversation=new, text="refund two")

    hits = search(user=agent, query="refund").conversations

    assert [(hit.conversation, hit.message_id) for hit in hits] == [(new, newest.pk), (old, older_hit.pk)]


def test_subject_and_message_matches_at_the_same_moment_both_come_back(agent, webchat_inbox):
    at = timezone.now()
    by_subject = ConversationFactory(inbox=webchat_inbox, subject="refund", last_message_at=at)
    by_message = message_in(webchat_inbox, "refund")
    Message.objects.filter(pk=by_message.pk).update(created_at=at)

    hits = search(user=agent, query="refund").conversations

    assert {hit.conversation for hit in hits} == {by_subject, by_message.conversation}


def test_never_shows_conversations_from_an_inbox_the_agent_is_not_in(agent, webchat_inbox):
    mine = message_in(webchat_inbox, "refund for order 77")
    message_in(InboxFactory(), "refund for order 78", subject="refund")
    ConversationFactory(inbox=InboxFactory(), subject="refund request")

    hits = search(user=agent, query="refund").conversations

    assert [hit.conversation for hit in hits] == [mine.conversation]
    assert search(user=UserFactory(), query="refund").conversations == []


def test_joining_an_inbox_makes_its_conversations_and_customers_findable(agent, webchat_inbox):
    other = InboxFactory()
    conversation = customer_with_conversation(other, "Refund Rita", address="rita@example.com")
    MessageFactory(conversation=conversation, text="refund please")
    assert search(user=agent, query="refund").conversations == []

    MembershipFactory(inbox=other, user=agent)
    results = search(user=agent, query="refund")

    assert [hit.conversation for hit in results.conversations] == [conversation]
    assert [hit.customer for hit in results.customers] == [conversation.customer]


def test_finds_customers_by_name(agent, webchat_inbox):
    conversation = customer_with_conversation(webchat_inbox, "Ada Lovelace", address="countess@example.com")

    for typed in ("lovelace", "Ada Love", "love ada"):
        [hit] = search(user=agent, query=typed).customers
        assert (hit.customer, hit.conversation_id, hit.identity) == (conversation.customer, conversation.pk, "")


@pytest.mark.parametrize("typed", ["ada@example.com", "ADA@Example", "ada@"])
def test_finds_customers_by_email(agent, webchat_inbox, typed):
    conversation = customer_with_conversation(
        webchat_inbox, "Countess", address="ada@example.com", display="Ada@Example.com"
    )
    customer_with_conversation(webchat_inbox, "Someone", address="bob@example.org")

    [hit] = search(user=agent, query=typed).customers

    assert (hit.customer, hit.conversation_id, hit.identity) == (
        conversation.customer,
        conversation.pk,
        "Ada@Example.com",
    )


@pytest.mark.parametrize("typed", ["+1 555 0100", "5550100", "(555) 0100", "555-0100", "+15550100"])
def test_finds_customers_by_phone_however_it_is_typed(agent, webchat_inbox, typed):
    conversation = customer_with_conversation(
        webchat_inbox, "Grace", kind=ContactIdentity.Kind.PHONE, address="+15550100", display="+1 555-0100"
    )
    customer_with_conversation(webchat_inbox, "Other", kind=ContactIdentity.Kind.PHONE, address="+15550199")

    [hit] = search(user=agent, query=typed).customers

    assert (hit.customer, hit.conversation_id, hit.identity) == (
        conversation.customer,
        conversation.pk,
        "+1 555-0100",
    )


def test_does_not_match_visitor_ids_or_messenger_ids(agent, webchat_inbox):
    customer_with_conversation(webchat_inbox, "Visitor", kind=ContactIdentity.Kind.WEBCHAT, address="v-5550100")
    customer_with_conversation(webchat_inbox, "Page user", kind=ContactIdentity.Kind.MESSENGER, address="95550100")

    assert search(user=agent, query="5550100").customers == []


def test_never_shows_customers_without_a_conversation_in_the_agents_inboxes(agent, webchat_inbox):
    customer_with_conversation(InboxFactory(), "Hidden Hank", address="hank@example.com")

    assert search(user=agent, query="hank").customers == []
    assert search(user=agent, query="hank@example.com").customers == []


def test_a_customer_opens_on_their_latest_conversation_the_agent_may_see(agent, webchat_inbox):
    now = timezone.now()
    older = customer_with_conversation(
        webchat_inbox, "Ada", address="ada@example.com", last_message_at=now - timedelta(days=2)
    )
    visible = ConversationFactory(inbox=webchat_inbox, identity=older.identity, last_message_at=now - timedelta(days=1))
    ConversationFactory(inbox=InboxFactory(), identity=older.identity, last_message_at=now)  # newer, hidden

    [hit] = search(user=agent, query="ada").customers

    assert hit.conversation_id == visible.pk


def test_customers_come_by_latest_activity(agent, webchat_inbox):
    now = timezone.now()
    quiet = customer_with_conversation(webchat_inbox, "Ada Quiet", address="q@example.com", last_message_at=now)
    busy = customer_with_conversation(
        webchat_inbox, "Ada Busy", address="b@example.com", last_message_at=now + timedelta(minutes=1)
    )

    assert [hit.customer for hit in search(user=agent, query="ada").customers] == [busy.customer, quiet.customer]


def test_merged_customers_are_not_results_themselves(agent, webchat_inbox):
    target = customer_with_conversation(webchat_inbox, "Ada Lovelace", address="ada@example.com")
    merged = customer_with_conversation(webchat_inbox, "Ada L.", address="ada.l@example.com")
    merged.customer.merged_into = target.customer
    merged.customer.save()

    assert [hit.customer for hit in search(user=agent, query="ada").customers] == [target.customer]


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "'&|!:*()",
        "refund & | ! :* ( ) <-> 'quoted' \\",
        "%_",
        "nul\x00byte",
        "x" * 5000,
        "refund " * 1000,
        " ".join(f"w{n}" for n in range(500)),
        "🙂 ünïcödé 東京",
    ],
)
def test_odd_input_returns_cleanly(agent, webchat_inbox, typed):
    message_in(webchat_inbox, "a refund for %_ and 'quotes'")

    results = search(user=agent, query=typed)

    assert isinstance(results.conversations, list) and isinstance(results.customers, list)


def test_punctuation_alone_finds_nothing_and_asks_nothing(agent, webchat_inbox, django_assert_num_queries):
    message_in(webchat_inbox, "'&|!:*()")
    with django_assert_num_queries(0):
        results = search(user=agent, query="'&|!:*()")
    assert (results.conversations, results.customers) == ([], [])


def test_costs_the_same_queries_for_1_or_30_matches(agent, webchat_inbox, django_assert_num_queries):
    def add(n):
        for _ in range(n):
            conversation = ConversationFactory(
                inbox=webchat_inbox, subject="refund", assignee=UserFactory(), identity__customer__name="Refund Rita"
            )
            MessageFactory(conversation=conversation, text="refund please")

    def run():
        results = search(user=agent, query="refund")
        # Everything a result row shows is loaded already.
        for hit in results.conversations:
            str(hit.conversation.customer), str(hit.conversation.inbox), str(hit.conversation.assignee)
        for hit in results.customers:
            str(hit.customer)
        return results

    add(1)
    # Matching message ids, subject hits, the chosen messages with their conversations, customers.
    with django_assert_num_queries(4):
        results = run()
    assert (len(results.conversations), len(results.customers)) == (1, 1)
    add(29)
    with django_assert_num_queries(4):
        results = run()
    assert (len(results.conversations), len(results.customers)) == (20, 10)


def test_snippet_escapes_the_message_and_marks_only_the_match(agent, webchat_inbox):
    message_in(webchat_inbox, "<script>alert('refund')</script> <b>bold</b> refund")

    [hit] = search(user=agent, query="refund").conversations

    assert "<script>" not in hit.snippet and "<b>" not in hit.snippet
    assert hit.snippet == (
        "&lt;script&gt;alert(&#x27;<mark>refund</mark>&#x27;)&lt;/script&gt; "
        "&lt;b&gt;bold&lt;/b&gt; <mark>refund</mark>"
    )


def test_snippet_of_a_long_message_shows_the_match(agent, webchat_inbox):
    message_in(webchat_inbox, "Hello,\n\n" + "lorem ipsum " * 400 + "the refund arrived today. " + "Thanks! " * 400)

    [hit] = search(user=agent, query="refund").conversations

    assert "<mark>refund</mark> arrived today." in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert len(hit.snippet) < 250 and "\n" not in hit.snippet


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="POSTGRESQL-ONLY TEST SKIPPED: it checks PostgreSQL's search indexes; `make test` runs it on PostgreSQL",
)
def test_postgresql_plans_can_use_the_search_indexes(agent, webchat_inbox):
    customer_with_conversation(webchat_inbox, "Ada", address="ada@example.com")
    with CaptureQueriesContext(connection) as captured:
        search(user=agent, query="ada")
    plans = []
    searched = ("message_search_idx", "conv_subject_fts_idx", "customer_name_trgm_idx", "identity_address_trgm_idx")
    with connection.cursor() as cursor:
        # With sequential and plain index scans priced out (tables here are tiny), a plan still avoids
        # an index only if it cannot use it: an expression no longer spelled as the index spells it.
        # Other indexes of these tables compete by cost, which statistics left by earlier tests sway:
        # they are dropped for this test's transaction alone (PostgreSQL's DDL rolls back with it).
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('conversations_message', "
            "'conversations_conversation', 'customers_customer', 'customers_contactidentity')"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        for (name,) in cursor.fetchall():
            if name not in searched:
                cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        for query in captured.captured_queries:
            cursor.execute(f"EXPLAIN {query['sql']}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    # The lookups search.py uses for customers, alone: in the whole query other indexes compete.
    plans.append(Customer.objects.filter(name__icontains="ada").explain())
    plans.append(ContactIdentity.objects.filter(address__contains="ada@").explain())
    plan = "\n".join(plans)
    for index in searched:
        assert index in plan, plan
