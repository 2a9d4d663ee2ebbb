"""Every URL, socket and download that takes an id keeps an agent outside the inbox out.

The tests walk the project's URL patterns (and the websocket routes) instead of listing URLs by
hand, so a URL added tomorrow is checked tomorrow: each pattern must fall under a rule below
(membership for the workspace, admin-only for /settings/, or a public endpoint named with its
reason), and each id in its path must have an entry in KWARG_VALUES saying how to produce a value
that belongs to inbox A. A pattern that fits nowhere fails with a message saying what to add.

The world: inbox A (email, plus a website chat) with Alice, inbox B with Bob. Bob is a working agent
with his own customer, so "404" means "not yours", not "you have nothing".
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils import timezone

from conversations.actions import note_add
from conversations.ingest import message_ingest
from conversations.intake import inbound_event_receive, inbound_event_record_failed
from conversations.models import (
    Attachment,
    CannedResponse,
    Conversation,
    InboundEvent,
    Label,
    Message,
    Notification,
    SlaPolicy,
)
from conversations.selectors import Cursor
from customers.models import Company, ContactIdentity, Customer, CustomerMerge
from customers.services import customer_merge, customer_notes_update
from inbox.audit.record import audit_record
from inbox.connectors import fake
from inbox.models import AuditEntry, Inbox, SavedView, SignedInSession, Team
from tests.factories import InboxFactory, MembershipFactory, UserFactory
from tests.helpers import inbound
from tests.sockets import agent_socket, hello, receive_json, say, session_cookie, widget_socket

# ---- the world ----------------------------------------------------------------------------------

ZELDA = "Zelda Quartermaine"
ZELDA_EMAIL = "zelda.quartermaine@acme-only.example"
ZELDA_COMPANY = "Quartermaine Vaults Ltd"
SUBJECT = "Invoice ZQ-4711"
MESSAGE_TEXT = "The vault code is AARDVARK-PLUM-3141"
ATTACHMENT_NAME = "contract-zq-4711.pdf"
ATTACHMENT_BYTES = b"%PDF-1.4 ATTACHMENT-BYTES-ONLY-IN-A"
NOTE_TEXT = "NOTE-ONLY-IN-A about the vault"
CUSTOMER_NOTES = "CUSTOMER-NOTES-ONLY-IN-A: prefers phone"
YORICK = "Yorick Xanthopoulos"
WANDA = "Wanda Vantongeren"
SAM_PRIVATE_EMAIL = "sam.private@acme-only.example"
SAM_SECRET_TEXT = "SHARED-CUSTOMER-SECRET-IN-A"
CHAT_TEXT = "CHAT-SECRET-IN-A please call me"
CANNED_TEXT = "CANNED-ONLY-FOR-ALICE: our vault hours"
FAILED_EVENT_ERROR = "FAILED-EVENT-ONLY-IN-A"
INBOX_A_NAME = "Acme Private Mail"
INBOX_A_CHAT_NAME = "Acme Private Chat"
AUDIT_SUMMARY = "AUDIT-ONLY-ABOUT-A"
ALICE_BROWSER = "AliceBrowser/7.7 (ALICE-ONLY-USER-AGENT)"
IMAP_PASSWORD = "IMAP-PASSWORD-OF-A-9f3k"
SIGNING_KEY = "SIGNING-KEY-OF-A-2m8q"

# What Bob must never see, whatever he asks for. (Sam's *name* is not here: Sam also wrote to B.)
A_DATA = [
    ZELDA,
    ZELDA_EMAIL,
    ZELDA_COMPANY,
    SUBJECT,
    MESSAGE_TEXT,
    ATTACHMENT_NAME,
    ATTACHMENT_BYTES.decode(),
    NOTE_TEXT,
    CUSTOMER_NOTES,
    YORICK,
    WANDA,
    SAM_PRIVATE_EMAIL,
    SAM_SECRET_TEXT,
    CHAT_TEXT,
    CANNED_TEXT,
    FAILED_EVENT_ERROR,
    INBOX_A_NAME,
    INBOX_A_CHAT_NAME,
    AUDIT_SUMMARY,
]

MAIL = (
    f"From: {ZELDA} <{ZELDA_EMAIL}>\r\n"
    "To: support@acme.example\r\n"
    f"Subject: {SUBJECT}\r\n"
    "Message-ID: <zq-4711@acme-only.example>\r\n"
    "Date: Mon, 02 Nov 2026 09:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
    "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    f"{MESSAGE_TEXT}\r\n"
    f'--B\r\nContent-Type: application/pdf; name="{ATTACHMENT_NAME}"\r\n'
    f'Content-Disposition: attachment; filename="{ATTACHMENT_NAME}"\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\n"
    f"{base64.b64encode(ATTACHMENT_BYTES).decode()}\r\n"
    "--B--\r\n"
).encode()


@dataclass
class World:
    alice: object
    bob: object
    admin: object
    inbox_a: Inbox
    inbox_a_chat: Inbox
    inbox_b: Inbox
    zelda: Customer
    conversation_a: Conversation
    message_a: Message
    attachment: Attachment
    note: Message
    wanda: Customer
    merge: CustomerMerge
    sam: Customer
    sam_conversation_b: Conversation
    chat_conversation: Conversation
    bob_conversation: Conversation
    canned: CannedResponse
    shared_canned: CannedResponse
    team: Team
    label: Label
    failed_event: InboundEvent
    notification: Notification
    audit_entry: AuditEntry
    alice_session_key: str
    extra: dict = field(default_factory=dict)


def build_world() -> World:
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    admin = UserFactory(username="root", first_name="Ada", is_staff=True, is_superuser=True)
    inbox_a = InboxFactory(
        kind="email",
        name=INBOX_A_NAME,
        settings={"address": "support@acme.example"},
        credentials={
            "imap": {"host": "imap.acme.example", "password": IMAP_PASSWORD},
            "inbound_signing_key": SIGNING_KEY,
        },
    )
    inbox_a_chat = InboxFactory(kind="webchat", name=INBOX_A_CHAT_NAME, settings={})
    inbox_b = InboxFactory(kind="email", name="Bobs Mail", settings={"address": "help@b.example"})
    for inbox in (inbox_a, inbox_a_chat):
        MembershipFactory(inbox=inbox, user=alice)
    MembershipFactory(inbox=inbox_b, user=bob)

    # Zelda's mail, with an attachment and its original, and a note and notes about her.
    [message_a] = inbound_event_receive(
        inbox=inbox_a, external_id="<zq-4711@acme-only.example>", raw=MAIL, content_type="message/rfc822"
    )
    conversation_a = message_a.conversation
    zelda = conversation_a.customer
    attachment = Attachment.objects.get(message=message_a)
    note = note_add(conversation=conversation_a, author=alice, text=NOTE_TEXT)
    customer_notes_update(customer=zelda, notes=CUSTOMER_NOTES)
    # Zelda works at a company only inbox A's customers do.
    zelda.company = Company.objects.create(name=ZELDA_COMPANY)
    zelda.save(update_fields=["company"])

    # Yorick, merged into Zelda (the merge can be undone); Wanda, another customer of A.
    yorick = message_ingest(
        inbox=inbox_a, inbound=inbound("hello", kind="email", address="yorick@acme-only.example", name=YORICK)
    ).conversation.customer
    merge = customer_merge(source=yorick, target=zelda, actor=alice)
    wanda = message_ingest(
        inbox=inbox_a, inbound=inbound("hi there", kind="email", address="wanda@acme-only.example", name=WANDA)
    ).conversation.customer

    # Sam wrote to both inboxes, from two addresses, and is one customer: Bob sees Sam, not A's part.
    sam_a = message_ingest(
        inbox=inbox_a, inbound=inbound(SAM_SECRET_TEXT, kind="email", address=SAM_PRIVATE_EMAIL, name="Sam Shared")
    ).conversation
    sam_b = message_ingest(
        inbox=inbox_b, inbound=inbound("Hello B", kind="email", address="sam@b.example", name="Sam Shared")
    ).conversation
    customer_merge(source=sam_b.customer, target=sam_a.customer, actor=None)
    sam_b.refresh_from_db()

    chat = message_ingest(inbox=inbox_a_chat, inbound=inbound(CHAT_TEXT, address="visitor-a-1", name="Vera"))
    bob_conversation = message_ingest(
        inbox=inbox_b, inbound=inbound("Bob's own customer", kind="email", address="own@b.example", name="Olly Own")
    ).conversation

    canned = CannedResponse.objects.create(shortcut="vault", text=CANNED_TEXT, owner=alice)
    shared_canned = CannedResponse.objects.create(shortcut="hours", text="We open at nine.", owner=None)
    team = Team.objects.create(name="Vault team")
    team.members.add(alice)
    label = Label.objects.create(name="vault")
    inbound_event_record_failed(
        inbox=inbox_a, external_id="broken-1", raw=b"{}", content_type="application/json", error=FAILED_EVENT_ERROR
    )
    failed_event = InboundEvent.objects.get(external_id="broken-1")
    notification = Notification.objects.create(
        user=alice, kind="assigned", conversation=conversation_a, text=f"{ZELDA}: assigned to you"
    )
    audit_entry = audit_record(actor=alice, action="conversation.status", summary=AUDIT_SUMMARY, inbox=inbox_a)
    # Alice signed in from her browser: the sessions page lists it for her (and no one else).
    alice_client = Client(headers={"User-Agent": ALICE_BROWSER})
    alice_client.force_login(alice)  # (a password sign-in costs half a second of hashing per test)
    alice_client.get(reverse("workspace:conversation_list"))
    SignedInSession.objects.filter(session_id=alice_client.session.session_key).update(user_agent=ALICE_BROWSER)
    return World(
        alice=alice,
        bob=bob,
        admin=admin,
        inbox_a=inbox_a,
        inbox_a_chat=inbox_a_chat,
        inbox_b=inbox_b,
        zelda=zelda,
        conversation_a=conversation_a,
        message_a=message_a,
        attachment=attachment,
        note=note,
        wanda=wanda,
        merge=merge,
        sam=sam_a.customer,
        sam_conversation_b=sam_b,
        chat_conversation=chat.conversation,
        bob_conversation=bob_conversation,
        canned=canned,
        shared_canned=shared_canned,
        team=team,
        label=label,
        failed_event=failed_event,
        notification=notification,
        audit_entry=audit_entry,
        alice_session_key=alice_client.session.session_key,
    )


@pytest.fixture
def world(db) -> World:
    return build_world()


# ---- how each id in a URL is produced: a value that belongs to inbox A (or to Alice) ---------------

# kwarg name -> value for the world. Add an entry when a URL takes a new kind of id.
KWARG_VALUES: dict[str, Callable[[World], object]] = {
    "conversation_id": lambda w: w.conversation_a.pk,
    "message_id": lambda w: w.message_a.pk,  # an email: it has an original .eml and an attachment
    "attachment_id": lambda w: w.attachment.pk,
    "customer_id": lambda w: w.zelda.pk,
    "identity_id": lambda w: w.zelda.identities.first().pk,
    "company_id": lambda w: w.zelda.company_id,
    "view_id": lambda w: SavedView.objects.get_or_create(user=w.alice, name="Zelda's", query=f"inbox={w.inbox_a.pk}")[
        0
    ].pk,
    "merge_id": lambda w: w.merge.pk,
    "canned_id": lambda w: w.canned.pk,  # Alice's own canned response
    "inbox_id": lambda w: w.inbox_a.pk,
    "team_id": lambda w: w.team.pk,
    "label_id": lambda w: w.label.pk,
    "event_id": lambda w: w.failed_event.pk,
    "user_id": lambda w: w.alice.pk,
    "entry_id": lambda w: w.audit_entry.pk,
    "audit_id": lambda w: w.audit_entry.pk,
    "notification_id": lambda w: w.notification.pk,
    "session_key": lambda w: w.alice_session_key,
    "session_id": lambda w: alice_signed_in_session_id(w),  # the sessions page's row of Alice's browser
    "token": lambda w: w.inbox_a_chat.public_token,  # the widget's try page: a website chat's token
    "kind": lambda w: w.inbox_a.kind,
    "provider": lambda w: "mailgun",
    "policy_id": lambda w: SlaPolicy.objects.get_or_create(
        name="Vault hours", inbox=w.inbox_a, first_response_seconds=3600
    )[0].pk,
}

# The settings' catalogs (/settings/<section>/<item_id>/): which object an item_id names depends on
# the section. A new section needs its entry here.
CATALOG_ITEMS: dict[str, Callable[[World], object]] = {
    "teams": lambda w: w.team.pk,
    "labels": lambda w: w.label.pk,
    "canned": lambda w: w.shared_canned.pk,
}


def _catalog_item(w: World, pattern: Pattern):
    section = dict(pattern.default_args).get("section") or pattern.name.split(":")[-1].rsplit("_", 1)[0]
    if section not in CATALOG_ITEMS:
        pytest.fail(
            f"new URL pattern {pattern.label} takes item_id in section {section!r}: add the section to "
            f"CATALOG_ITEMS in {__file__} with an object of that section"
        )
    return CATALOG_ITEMS[section](w)


# kwarg name -> value for the world and the pattern, where the pattern decides what the id names.
PATTERN_KWARG_VALUES: dict[str, Callable[[World, Pattern], object]] = {"item_id": _catalog_item}

# Query and form fields sent along with every request, naming A's objects wherever a view reads an
# id from the query or the form: an id there must be checked as carefully as one in the path.
# Searches use a surname only: the page echoes the query, and the full name is what must not show.


def probe_query(w: World) -> dict:
    return {
        "q": "Quartermaine",
        "other": w.wanda.pk,
        "before": Cursor(timezone.now() + timedelta(days=1), 2**62).encode(),
        "since": (timezone.now() - timedelta(days=1)).isoformat(),
        "customer": w.zelda.pk,
        "conversation": w.conversation_a.pk,
        "inbox": w.inbox_a.pk,
        "label": w.label.pk,
        "view": f"team-{w.team.pk}",
        "status": "all",
    }


def probe_form(w: World) -> dict:
    return {
        "text": "Bob was here",
        "mode": "note",
        "assignee": "me",
        "status": "resolved",
        "labels": [w.label.pk],
        "notes": "Bob was here",
        "other": w.wanda.pk,
        "conversation": w.conversation_a.pk,
        "ids": [w.conversation_a.pk, w.notification.pk],
        "action": "resolve",
        "value": "me",
    }


# ---- the rules: which patterns follow which, and the ones exempt with their reason ---------------

# Namespaces whose every pattern is an agent's: only members of the object's inbox may reach it.
MEMBERSHIP_NAMESPACES = {"workspace", "reports"}
# Patterns outside those namespaces that follow the same rule.
MEMBERSHIP_NAMES = {"widget_demo": "the website chat's try page, for the inbox's agents"}
# Namespaces for admins only: a signed-in agent who is not an admin gets 403 (or a redirect to a
# page that answers 403), a signed-out visitor the login page.
ADMIN_ONLY_NAMESPACES = {"settings"}
# Settings pages every agent has, about their own account only. Another agent's ids there get 403/404
# or the answer an ended session of one's own gets, and change nothing.
SELF_SERVICE_NAMES = {
    "settings:sessions": "each agent's own signed-in sessions",
    "settings:profile": "each agent's own name and signature",
    "settings:session_revoke": "signs out one of the agent's own sessions",
    "settings:sessions_revoke_others": "signs out the agent's other sessions",
}
# Public, with the reason; each is still checked below for what it is.
EXEMPT_NAMES = {
    "login": "signing in is for the signed out",
    "accept_invitation": "an invited person chooses a password: the signed, single-use token is the check "
    "(test_an_invitation_link_with_a_wrong_token_is_404_and_shows_no_one)",
    "logout": "signing out takes no id and shows no data",
    "favicon": "a redirect to the site's icon, a static file like the stylesheet",
    "widget_upload": "a chat visitor's file, from the customer's website: the signed visitor token and the "
    "origin are the check (test_a_visitor_file_needs_the_widgets_origin_and_its_visitor_token)",
    "public_file": "a file by its signed, expiring link, for Twilio, Meta and chat visitors "
    "(test_a_files_signed_link_opens_it_and_a_forged_or_old_one_does_not)",
    "inbound_webhook": "providers post here; the inbox token in the URL plus the signature is the check "
    "(test_webhooks_answer_404_to_a_wrong_token_and_403_to_a_missing_signature)",
    "email_provider_webhook": "email providers post here; token plus signature or basic auth "
    "(test_webhooks_answer_404_to_a_wrong_token_and_403_to_a_missing_signature)",
    "csat_answer": "a customer's one-click answer to a satisfaction email: the signed link is the check "
    "(test_a_made_up_or_altered_survey_link_is_refused_and_records_nothing)",
}
EXEMPT_NAMESPACES = {
    "admin": "Django's admin has its own staff checks (test_django_admin_sends_agents_to_its_login)",
}


@dataclass(frozen=True)
class Pattern:
    route: str
    name: str | None
    namespace: str
    kwargs: tuple[str, ...]
    default_args: tuple = ()

    @property
    def label(self) -> str:
        return f"{self.name or '(unnamed)'} /{self.route}"


def _kwargs_of(pattern) -> list[str]:
    if isinstance(pattern, RoutePattern):
        return list(pattern.converters)
    if isinstance(pattern, RegexPattern):
        return list(pattern.regex.groupindex)
    return []


def url_patterns(resolver=None, prefix="", namespace="", kwargs=()) -> list[Pattern]:
    """Every URL pattern of the project, through includes, with its namespace and path kwargs."""
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        here = prefix + str(entry.pattern)
        names = (*kwargs, *_kwargs_of(entry.pattern))
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, (namespace, entry.namespace))) if entry.namespace else namespace
            found += url_patterns(entry, here, inner, names)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            found.append(Pattern(here, name, namespace, names, tuple(sorted(entry.default_args.items()))))
    return found


PATTERNS = url_patterns()


def rule_of(pattern: Pattern) -> str:
    top = pattern.namespace.split(":")[0]
    if top in EXEMPT_NAMESPACES or pattern.name in EXEMPT_NAMES:
        return "exempt"
    if pattern.name is None:
        pytest.fail(f"URL pattern /{pattern.route} has no name: name it, then add it to a rule in {__file__}")
    if pattern.name in SELF_SERVICE_NAMES:
        return "self"
    if top in ADMIN_ONLY_NAMESPACES:
        return "admin"
    if top in MEMBERSHIP_NAMESPACES or pattern.name in MEMBERSHIP_NAMES:
        return "membership"
    pytest.fail(
        f"new URL pattern {pattern.label}: add it to the table in this test ({__file__}): "
        "MEMBERSHIP_NAMES if only the inbox's agents may reach it, ADMIN_ONLY_NAMESPACES / "
        "SELF_SERVICE_NAMES for settings, or EXEMPT_NAMES with the reason it is public."
    )


def url_for(pattern: Pattern, w: World) -> str:
    missing = [k for k in pattern.kwargs if k not in KWARG_VALUES and k not in PATTERN_KWARG_VALUES]
    if missing:
        pytest.fail(
            f"new URL pattern {pattern.label} takes {', '.join(missing)}: add it to the table in this test "
            f"(KWARG_VALUES in {__file__}) with a value that belongs to inbox A or to Alice, so the test can "
            "check that an agent outside the inbox (or a non-admin) is refused."
        )
    return reverse(pattern.name, kwargs={k: kwarg_value(k, w, pattern) for k in pattern.kwargs})


def kwarg_value(name: str, w: World, pattern: Pattern):
    if name in PATTERN_KWARG_VALUES:
        return PATTERN_KWARG_VALUES[name](w, pattern)
    return KWARG_VALUES[name](w)


# ---- what "no data" means --------------------------------------------------------------------------


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response)  # an asynchronous stream too (the exports)
    return response.content


def assert_nothing_of_a(response, what: str, extra: list[str] = ()) -> None:
    body = body_of(response)
    text = body.decode("utf-8", "replace")
    for secret in [*A_DATA, *extra]:
        assert secret not in text, f"{what} answered {response.status_code} showing {secret!r}"
    assert ATTACHMENT_BYTES not in body, f"{what} served the attachment's bytes"


def inbox_secrets(w: World) -> list[str]:
    """Inbox A's secrets: settings pages show credentials to admins, never to anyone else."""
    return [w.inbox_a.secret, w.inbox_a_chat.secret, IMAP_PASSWORD, SIGNING_KEY]


def alice_signed_in_session_id(w: World) -> int:
    return SignedInSession.objects.get(session_id=w.alice_session_key).pk


def alice_still_signed_in(w: World) -> bool:
    from django.contrib.sessions.models import Session

    return Session.objects.filter(session_key=w.alice_session_key, expire_date__gt=timezone.now()).exists()


def a_state(w: World) -> dict:
    """Everything of A an outsider's request could change."""
    inboxes = [w.inbox_a.pk, w.inbox_a_chat.pk]
    customers = Customer.objects.filter(conversations__inbox_id__in=inboxes).values_list("pk", flat=True)
    customer_ids = {*customers, w.merge.source_id}
    return {
        "conversations": list(
            Conversation.objects.filter(inbox_id__in=inboxes)
            .order_by("pk")
            .values("pk", "status", "assignee_id", "team_id", "snoozed_until", "customer_id")
        ),
        "labels": sorted(
            Conversation.labels.through.objects.filter(conversation__inbox_id__in=inboxes).values_list(
                "conversation_id", "label_id"
            )
        ),
        "messages": list(
            Message.objects.filter(inbox_id__in=inboxes).order_by("pk").values("pk", "text", "status", "direction")
        ),
        "customers": list(
            Customer.objects.filter(pk__in=customer_ids).order_by("pk").values("pk", "name", "notes", "merged_into_id")
        ),
        "identities": sorted(
            ContactIdentity.objects.filter(customer_id__in=customer_ids).values_list("pk", "customer_id")
        ),
        "merges": list(CustomerMerge.objects.order_by("pk").values("pk", "undone_at")),
        "canned": list(CannedResponse.objects.filter(owner=w.alice).values("pk", "text")),
        "notifications": list(Notification.objects.filter(user=w.alice).values("pk", "read_at")),
        "events": list(InboundEvent.objects.filter(inbox_id__in=inboxes).order_by("pk").values("pk", "state")),
        "inbox": list(Inbox.objects.filter(pk__in=inboxes).order_by("pk").values("pk", "name", "is_active")),
    }


def requests_of(client: Client, url: str, w: World):
    """GET (as a page and as htmx) and POST, each with A's ids in the query or form as well."""
    query, form = probe_query(w), probe_form(w)
    yield "GET", client.get(url, query)
    yield "GET htmx", client.get(url, query, headers={"HX-Request": "true"})
    yield "POST", client.post(url, form)
    yield "POST htmx", client.post(url, form, headers={"HX-Request": "true"})


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# ---- the patterns, one test each -----------------------------------------------------------------


def test_the_walk_finds_the_urls_we_know_of():
    """The walker itself: if it stopped descending into includes, everything below would pass empty."""
    names = {p.name for p in PATTERNS}
    assert {"workspace:conversation_detail", "workspace:attachment", "inbound_webhook", "settings:home"} <= names
    assert any(p.namespace == "admin" for p in PATTERNS)
    detail = next(p for p in PATTERNS if p.name == "workspace:conversation_detail")
    assert detail.kwargs == ("conversation_id",)


def test_every_pattern_follows_a_rule():
    """One message listing every URL that fits no rule or takes an id the table cannot make."""
    problems = []
    for pattern in PATTERNS:
        try:
            rule = rule_of(pattern)
        except pytest.fail.Exception as exc:
            problems.append(str(exc))
            continue
        if rule != "exempt":
            missing = [k for k in pattern.kwargs if k not in KWARG_VALUES and k not in PATTERN_KWARG_VALUES]
            if missing:
                problems.append(
                    f"new URL pattern {pattern.label} takes {', '.join(missing)}: add it to the table in this "
                    f"test (KWARG_VALUES in {__file__})"
                )
    assert not problems, "\n".join(problems)


def _rule_or_none(pattern: Pattern) -> str | None:
    try:
        return rule_of(pattern)
    except pytest.fail.Exception:
        return None  # reported by test_every_pattern_follows_a_rule


def _patterns(rule: str, *, with_ids: bool | None = None) -> list:
    chosen = [p for p in PATTERNS if _rule_or_none(p) == rule and (with_ids is None or bool(p.kwargs) == with_ids)]
    return [pytest.param(p, id=p.name) for p in chosen] or [pytest.param(None, id="none-yet")]


@pytest.mark.parametrize("pattern", _patterns("membership", with_ids=True))
def test_an_agent_outside_the_inbox_gets_404_and_nothing_of_it(world, pattern):
    """Bob, an agent of B, asks for A's conversation, message, attachment, customer, merge… by id."""
    if pattern is None:
        pytest.skip("no pattern of this kind yet")
    url = url_for(pattern, world)
    client = client_for(world.bob)
    before = a_state(world)
    statuses = {}
    for method, response in requests_of(client, url, world):
        statuses[method] = response.status_code
        assert_nothing_of_a(response, f"{method} {url} as Bob")
    assert set(statuses.values()) <= {403, 404, 405}, f"{url} as Bob: {statuses}"
    assert {403, 404} & set(statuses.values()), f"{url} as Bob refused every method, never said 403/404"
    assert a_state(world) == before, f"{url}: Bob's requests changed something of inbox A"
    assert mail.outbox == [] and fake.outbox == []


@pytest.mark.parametrize("pattern", _patterns("membership", with_ids=True))
def test_the_member_reaches_the_same_url(world, pattern):
    """The control: Alice, a member, is not refused, so the ids in the table really are A's."""
    if pattern is None:
        pytest.skip("no pattern of this kind yet")
    url = url_for(pattern, world)
    client = client_for(world.alice)
    response = client.get(url, probe_query(world), headers={"HX-Request": "true"})
    if response.status_code == 405:
        response = client.post(url, probe_form(world), headers={"HX-Request": "true"})
    assert response.status_code not in (403, 404) and response.status_code < 500, (
        f"{url} refused Alice, a member of inbox A ({response.status_code}): "
        "the value KWARG_VALUES makes for it is not A's"
    )


@pytest.mark.parametrize("pattern", _patterns("membership", with_ids=False))
def test_pages_without_ids_show_an_outsider_nothing_of_the_inbox(world, pattern):
    """Lists, search, sync, counts, bulk actions: Bob names A's ids in the query and the form."""
    if pattern is None:
        pytest.skip("no pattern of this kind yet")
    url = reverse(pattern.name)
    client = client_for(world.bob)
    before = a_state(world)
    for method, response in requests_of(client, url, world):
        assert response.status_code < 500, f"{method} {url} as Bob: {response.status_code}"
        assert_nothing_of_a(response, f"{method} {url} as Bob")
    assert a_state(world) == before, f"{url}: Bob's requests changed something of inbox A"
    assert mail.outbox == [] and fake.outbox == []


@pytest.mark.parametrize("pattern", _patterns("membership") + _patterns("admin") + _patterns("self"))
def test_signed_out_visitors_are_sent_to_the_login_page(world, pattern):
    if pattern is None:
        pytest.skip("no pattern of this kind yet")
    url = url_for(pattern, world) if pattern.kwargs else reverse(pattern.name)
    client = Client()
    for method, response in requests_of(client, url, world):
        assert_nothing_of_a(response, f"{method} {url} signed out")
        if response.status_code == 302 and response.url.startswith("/settings/"):
            response = client.get(response.url)  # the settings home sends you to a section first
            assert_nothing_of_a(response, f"{method} {url} signed out, redirected")
        if response.status_code == 302:
            assert response.url.startswith(reverse("login")), f"{method} {url} signed out went to {response.url}"
        else:
            assert response.status_code in (403, 404, 405), f"{method} {url} signed out: {response.status_code}"


@pytest.mark.parametrize("pattern", _patterns("admin"))
def test_settings_are_for_admins_only(world, pattern):
    """Every /settings/ page: a signed-in agent who is not an admin gets 403, even a member of the
    inbox concerned (Alice) and whatever the ids, and nothing changes."""
    if pattern is None:
        pytest.skip("no admin-only settings page yet")
    url = url_for(pattern, world) if pattern.kwargs else reverse(pattern.name)
    before = a_state(world)
    for user in (world.bob, world.alice):
        client = client_for(user)
        statuses = {}
        for method, response in requests_of(client, url, world):
            if response.status_code in (301, 302):
                # The settings home sends you to a section: that section must refuse in turn.
                assert response.url.startswith("/settings/"), f"{method} {url} went to {response.url}"
                response = client.get(response.url)
            statuses[method] = response.status_code
            assert_nothing_of_a(response, f"{method} {url} as {user.username}", extra=inbox_secrets(world))
        assert set(statuses.values()) <= {403, 405}, f"{url} as {user.username}, not an admin: {statuses}"
        assert 403 in statuses.values(), f"{url} as {user.username}: never 403 ({statuses})"
    assert a_state(world) == before, f"{url}: a non-admin's requests changed something"


@pytest.mark.parametrize("pattern", _patterns("admin"))
def test_an_admin_reaches_every_settings_page(world, pattern):
    """The control for the test above: the ids the table makes exist, and an admin is let in."""
    if pattern is None:
        pytest.skip("no admin-only settings page yet")
    url = url_for(pattern, world) if pattern.kwargs else reverse(pattern.name)
    client = client_for(world.admin)
    response = client.get(url, follow=True)
    if response.status_code == 405:
        response = client.post(url, {})
    assert response.status_code not in (403, 404) and response.status_code < 500, (
        f"{url} refused an admin ({response.status_code}): is the KWARG_VALUES entry for it right?"
    )


@pytest.mark.parametrize("pattern", _patterns("self"))
def test_self_service_settings_show_an_agent_only_their_own(world, pattern):
    """Pages every agent has about their own account (their sessions): Bob sees nothing of Alice's,
    and with Alice's ids he is refused, or told it has already ended, and her session lives on."""
    if pattern is None:
        pytest.skip("no self-service settings page yet")
    url = url_for(pattern, world) if pattern.kwargs else reverse(pattern.name)
    client = client_for(world.bob)
    before = a_state(world)
    alice_data = [world.alice_session_key, ALICE_BROWSER]
    for method, response in requests_of(client, url, world):
        assert response.status_code < 500, f"{method} {url} as Bob: {response.status_code}"
        assert_nothing_of_a(response, f"{method} {url} as Bob", extra=alice_data)
        if response.status_code == 302:
            assert response.url.startswith("/settings/"), f"{method} {url} as Bob went to {response.url}"
            assert_nothing_of_a(client.get(response.url), f"{method} {url} as Bob, redirected", extra=alice_data)
        elif pattern.kwargs:
            assert response.status_code in (403, 404, 405), f"{method} {url} (Alice's) as Bob: {response.status_code}"
        assert alice_still_signed_in(world), f"{method} {url} as Bob signed Alice out"
    assert a_state(world) == before
    # The control: Alice sees her own browser there.
    mine = client_for(world.alice).get(reverse("settings:sessions"))
    assert mine.status_code == 200 and ALICE_BROWSER in mine.content.decode()


# ---- the ones named exempt, checked for what they are ---------------------------------------------


def test_exempt_patterns_are_the_ones_we_listed():
    exempt = {p.name for p in PATTERNS if _rule_or_none(p) == "exempt" and p.namespace not in EXEMPT_NAMESPACES}
    assert exempt == set(EXEMPT_NAMES), "an exempt name no longer exists: remove it from EXEMPT_NAMES"


def test_webhooks_answer_404_to_a_wrong_token_and_403_to_a_missing_signature(world, client):
    client.force_login(world.bob)  # a session changes nothing here
    for kind in ("email", "sms", "messenger", "fake", "webchat"):
        for method in ("get", "post"):
            response = getattr(client, method)(reverse("inbound_webhook", kwargs={"kind": kind, "token": "wrong"}))
            assert response.status_code == 404
            assert_nothing_of_a(response, f"{method} webhook {kind}")
    for provider in ("mailgun", "postmark", "sendgrid", "nonsense"):
        url = reverse("email_provider_webhook", kwargs={"token": "wrong", "provider": provider})
        response = client.post(url, {"x": "y"})
        assert response.status_code == 404
        assert_nothing_of_a(response, f"provider webhook {provider}")
    # A website chat has no webhook: its public token (printed in every page's snippet) opens nothing.
    chat = reverse("inbound_webhook", kwargs={"kind": "webchat", "token": world.inbox_a_chat.public_token})
    assert client.post(chat, MAIL, content_type="message/rfc822").status_code == 404
    # A's real token without the secret: refused, stored nowhere, nothing of A said.
    events = InboundEvent.objects.count()
    raw_mail = reverse("inbound_webhook", kwargs={"kind": "email", "token": world.inbox_a.public_token})
    response = client.post(raw_mail, MAIL.replace(b"zq-4711", b"forged"), content_type="message/rfc822")
    assert response.status_code == 403
    assert_nothing_of_a(response, "the raw-mail webhook without auth")
    provider = reverse("email_provider_webhook", kwargs={"token": world.inbox_a.public_token, "provider": "postmark"})
    response = client.post(provider, {"From": "x@y.example"}, content_type="application/json")
    assert response.status_code == 403
    assert InboundEvent.objects.count() == events


def test_an_invitation_link_with_a_wrong_token_is_404_and_shows_no_one(world):
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    alice_uid = urlsafe_base64_encode(force_bytes(world.alice.pk))
    for client in (Client(), client_for(world.bob)):
        for uid in (alice_uid, "nonsense"):
            url = reverse("accept_invitation", kwargs={"uidb64": uid, "token": "wrong-token"})
            for response in (client.get(url), client.post(url, {"new_password1": "x", "new_password2": "x"})):
                assert response.status_code == 404, url
                assert_nothing_of_a(response, url, extra=["Alice Archer"])
    assert client_for(world.alice).get(reverse("workspace:conversation_list")).status_code == 200


def test_django_admin_sends_agents_to_its_login(world):
    urls = [
        reverse("admin:index"),
        reverse("admin:inbox_inbox_changelist"),
        reverse("admin:inbox_inbox_change", args=[world.inbox_a.pk]),
        reverse("admin:customers_customer_changelist"),
        reverse("admin:customers_customer_change", args=[world.zelda.pk]),
    ]
    for client in (client_for(world.bob), client_for(world.alice), Client()):
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302 and response.url.startswith(reverse("admin:login")), url
            assert_nothing_of_a(response, f"admin {url}")


def test_login_and_logout_show_nothing_of_any_inbox(world):
    for url in (reverse("login"),):
        response = Client().get(url)
        assert response.status_code == 200
        assert_nothing_of_a(response, url)
    response = client_for(world.bob).post(reverse("logout"))
    assert response.status_code == 302
    assert_nothing_of_a(response, "logout")


# ---- search, downloads and the shared customer, by hand ------------------------------------------


@pytest.mark.parametrize(
    "query", ["Quartermaine", "zelda.quartermaine", "AARDVARK", "Invoice", "vault", "yorick@acme", "sam.private"]
)
def test_search_shows_an_outsider_nothing_of_the_inbox_and_the_member_finds_it(world, query):
    bob, alice = client_for(world.bob), client_for(world.alice)
    for headers in ({}, {"HX-Request": "true"}):
        response = bob.get(reverse("workspace:search"), {"q": query}, headers=headers)
        assert response.status_code == 200
        assert_nothing_of_a(response, f"search {query!r} as Bob")
    found = alice.get(reverse("workspace:search"), {"q": query}, headers={"HX-Request": "true"}).content.decode()
    assert any(secret in found for secret in A_DATA), f"the control: Alice finds nothing for {query!r}"
    candidates = bob.get(reverse("workspace:merge_candidates", args=[world.bob_conversation.customer_id]), {"q": query})
    assert_nothing_of_a(candidates, f"merge candidates {query!r} as Bob")


def test_downloads_are_404_without_a_byte_for_an_outsider(world):
    bob, alice = client_for(world.bob), client_for(world.alice)
    for url in (
        reverse("workspace:attachment", args=[world.attachment.pk]),
        reverse("workspace:message_original", args=[world.message_a.pk]),
    ):
        response = bob.get(url)
        assert response.status_code == 404
        assert_nothing_of_a(response, url)
        assert alice.get(url).status_code == 200
    assert body_of(alice.get(reverse("workspace:attachment", args=[world.attachment.pk]))) == ATTACHMENT_BYTES
    assert MESSAGE_TEXT.encode() in alice.get(reverse("workspace:message_original", args=[world.message_a.pk])).content


def test_a_customer_shared_with_another_inbox_shows_only_that_inbox_s_part(world):
    """Sam wrote to A and to B. Bob works Sam's B conversation: the page, the sync, the earlier
    pages and the merge preview show none of what Sam said or used in A."""
    bob = client_for(world.bob)
    conversation = world.sam_conversation_b
    urls = [
        reverse("workspace:conversation_detail", args=[conversation.pk]),
        reverse("workspace:timeline_earlier", args=[conversation.pk]),
        reverse("workspace:merge_preview", args=[world.bob_conversation.customer_id]),
        reverse("workspace:merge_preview", args=[world.sam.pk]),
        reverse("workspace:sync"),
    ]
    query = {
        **probe_query(world),
        "customer": world.sam.pk,
        "conversation": conversation.pk,
        "other": world.sam.pk,
    }
    for url in urls:
        for headers in ({}, {"HX-Request": "true"}):
            response = bob.get(url, query, headers=headers)
            assert response.status_code < 500, url
            assert_nothing_of_a(response, f"{url} as Bob")
    page = bob.get(urls[0]).content.decode()
    assert "Hello B" in page and "Sam Shared" in page  # the control: B's part shows
    preview = bob.get(urls[2], {"other": world.sam.pk}).content.decode()
    assert "sam@b.example" in preview  # what Bob may see of Sam is still previewed
    # Merging Sam (partly in A) into Bob's customer is refused and moves nothing.
    before = a_state(world)
    refused = bob.post(
        reverse("workspace:customer_merge", args=[world.bob_conversation.customer_id]), {"other": world.sam.pk}
    )
    assert refused.status_code == 403
    assert_nothing_of_a(refused, "merge of a shared customer")
    assert a_state(world) == before


def test_an_outsider_cannot_merge_an_inbox_customer_into_their_own(world):
    bob = client_for(world.bob)
    mine = world.bob_conversation.customer_id
    before = a_state(world)
    for url, data in (
        (reverse("workspace:customer_merge", args=[mine]), {"other": world.zelda.pk}),
        (reverse("workspace:merge_preview", args=[mine]), {"other": world.zelda.pk}),
    ):
        response = bob.post(url, data) if "preview" not in url else bob.get(url, data)
        assert response.status_code == 404, url
        assert_nothing_of_a(response, url)
    assert a_state(world) == before


# ---- websockets --------------------------------------------------------------------------------

# Every websocket route, with what keeps it to its own people. A new route fails until it is added.
WEBSOCKET_ROUTES = {
    "ws/agent/": "a session cookie; events only for the agent's inboxes (tests below, test_agent_socket.py)",
    "ws/widget/<str:token>/": "per inbox token and per signed visitor token (test_widget_socket.py)",
}


def test_every_websocket_route_is_accounted_for():
    from inbox.asgi import websocket_routes

    routes = {str(route.pattern) for route in websocket_routes.routes}
    unknown = routes - set(WEBSOCKET_ROUTES)
    assert not unknown, (
        f"new websocket route(s) {sorted(unknown)}: add them to WEBSOCKET_ROUTES in {__file__} with what keeps "
        "an agent or visitor of another inbox out, and a test that proves it"
    )


async def _open(user):
    ws, connected = await agent_socket(cookie=await sync_to_async(session_cookie)(user))
    assert connected
    return ws


async def _frames(ws, timeout=0.5) -> str:
    """Everything the socket receives until it is quiet."""
    frames = []
    while not await ws.receive_nothing(timeout=timeout):
        frames.append(await ws.receive_from())
    return "".join(frames)


@pytest.mark.django_db(transaction=True)
async def test_an_outsider_s_socket_hears_nothing_of_the_inbox_and_says_nothing_to_it():
    from conversations import actions

    w = await sync_to_async(build_world)()
    visitor = await widget_socket(w.inbox_a_chat.public_token)
    await hello(visitor, name="Vera")
    ack = await say(visitor, "Is my order ready?", "v1")
    chat = await sync_to_async(Conversation.objects.get)(messages__pk=ack["message_id"])

    bob_ws = await _open(w.bob)
    alice_ws = await _open(w.alice)
    assert await bob_ws.receive_nothing(timeout=0.5)  # Alice came online: not in Bob's inboxes

    # Bob claims to view and type in A's conversations: Alice, and A's visitor, hear nothing of him.
    for conversation_id in (w.conversation_a.pk, chat.pk):
        for frame in (
            {"type": "viewing", "conversation": conversation_id},
            {"type": "typing", "conversation": conversation_id, "typing": True},
            {"type": "typing", "conversation": conversation_id, "typing": True, "note": True},
        ):
            await bob_ws.send_to(text_data=json.dumps(frame))
    await bob_ws.send_to(text_data=json.dumps({"type": "heartbeat"}))
    heard_by_bob = await _frames(bob_ws)
    assert f'data-presence-user="{w.alice.pk}"' not in heard_by_bob  # his heartbeat's answer: not Alice
    assert await alice_ws.receive_nothing(timeout=0.5)
    assert await visitor.receive_nothing(timeout=0.3)

    # The control: Alice typing reaches the visitor, and her own page.
    await alice_ws.send_to(text_data=json.dumps({"type": "typing", "conversation": chat.pk, "typing": True}))
    assert (await receive_json(visitor))["name"] == "Alice"
    assert "Alice Archer is typing" in await _frames(alice_ws)

    # A's life goes on: a customer writes, Alice notes, assigns, labels, resolves; the visitor writes.
    def act():
        message_ingest(
            inbox=w.inbox_a, inbound=inbound(f"{MESSAGE_TEXT} again", kind="email", address=ZELDA_EMAIL, name=ZELDA)
        )
        conversation = Conversation.objects.get(pk=w.conversation_a.pk)
        note_add(conversation=conversation, author=w.alice, text=f"{NOTE_TEXT} 2")
        actions.conversation_assign(conversation=conversation, assignee_id=w.alice.pk, actor=w.alice)
        actions.conversation_set_labels(conversation=conversation, label_ids=[w.label.pk], actor=w.alice)
        actions.conversation_set_status(conversation=conversation, status="resolved", actor=w.alice)

    await sync_to_async(act)()
    await say(visitor, CHAT_TEXT + " 2", "v2")
    heard_by_alice = await _frames(alice_ws, timeout=1)
    assert MESSAGE_TEXT in heard_by_alice and NOTE_TEXT in heard_by_alice and CHAT_TEXT in heard_by_alice
    heard_by_bob = await _frames(bob_ws, timeout=0.5)
    assert heard_by_bob == "", f"Bob's socket heard A's events: {heard_by_bob[:300]}"

    for ws in (alice_ws, bob_ws, visitor):
        await ws.disconnect()
