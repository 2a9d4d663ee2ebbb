"""Workspace search: conversations (by message text or subject) and customers, in the agent's inboxes.

On PostgreSQL words match by full-text search with the 'simple' configuration (support mail is
multilingual: no stemming, no stop words), each word of three characters or more as a prefix: messages
on a stored tsvector, subjects on an expression index (migration conversations/0005); customers by
name and address on trigram indexes (customers/0006). SQLite, the embedded default, falls back to
icontains on the same words.

A search costs four queries whatever the data size: matching message ids, subject hits (with their
conversations), the chosen messages (with theirs), customers. Three when no message matches, none for
a query without a word.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import datetime
from functools import reduce

from django.db import connection
from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from conversations.models import Conversation, Message
from conversations.selectors import visible_inbox_ids
from customers.models import ContactIdentity, Customer

CONVERSATION_LIMIT = 20
CUSTOMER_LIMIT = 10
# Rows read to find that many distinct conversations or customers, newest first: a chatty conversation
# or a customer with many conversations must not crowd the others out, and the rows are small.
MESSAGE_SCAN = CONVERSATION_LIMIT * 5
CUSTOMER_SCAN = CUSTOMER_LIMIT * 5
# Customers matching a broad query ("gmail") are ranked among this many per match kind (any of them),
# not all: ranking 20,000 by their latest activity cost 150 ms on 100,000 customers.
CUSTOMER_CANDIDATES = 500
MAX_QUERY_CHARS = 200
MAX_WORDS = 8
MAX_WORD_CHARS = 50
# A shorter word matches whole words only: a prefix as short as "-4" expands to thousands of rare
# lexemes, which PostgreSQL estimates as a few rows and then reads 100,000 (a second, not 20 ms).
MIN_PREFIX_CHARS = 3
MIN_ADDRESS_CHARS = 3
SNIPPET_CHARS = 160
# The tsvector migration 0005 stores beside each message on PostgreSQL (the model does not declare it:
# SQLite could not compute it). Stored, not an expression index: parsing costs 35-110 µs a message,
# and the plan that tests the newest messages one by one (the fast one for a common word) re-parsed
# each, 300-600 ms on 1M messages; testing a stored vector costs about 1 µs.
MESSAGE_VECTOR = "search_vector"

# Words are runs of letters and digits, joined by the marks that hold an address or an order number
# together ("ada@example.com", "ord-1234"): everything else, tsquery operators included, separates.
_WORD = re.compile(r"[^\W_]+(?:[.@_\-][^\W_]+)*")
_PHONE_TYPED = re.compile(r"[0-9 +().\-/]+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ConversationHit:
    """A conversation found by one of its messages (message_id set) or by its subject (message_id None)."""

    conversation: Conversation  # with customer, inbox and assignee loaded
    message_id: int | None
    snippet: SafeString  # escaped text around the match, the matching words in <mark>
    at: datetime  # when the match happened: the message's arrival, or the conversation's last activity


@dataclass(frozen=True)
class CustomerHit:
    customer: Customer
    conversation_id: int  # their latest conversation in the agent's inboxes: the one to open
    identity: str  # the email or phone that matched, as the customer wrote it; "" for a name match


@dataclass(frozen=True)
class SearchResults:
    conversations: list[ConversationHit]  # newest match first
    customers: list[CustomerHit]  # latest activity first


@dataclass(frozen=True)
class _Terms:
    words: tuple[str, ...]  # lowercased
    address: str  # the whole query, for a substring of a normalized (lowercase) email; "" if unusable
    digits: str  # the digits of a query typed as a phone number; "" if it is not one

    @property
    def tsquery(self) -> str:
        """Input for to_tsquery: each word quoted, so that it is never an operator, and a prefix."""
        return " & ".join(f"'{word}':*" for word in self.words)


def search(*, user, query: str) -> SearchResults:
    """Find the conversations and customers matching every word of the query, in the agent's inboxes."""
    terms = _terms(query)
    if not terms.words:
        return SearchResults(conversations=[], customers=[])
    return SearchResults(conversations=_conversation_hits(user, terms), customers=_customer_hits(user, terms))


def _terms(query: str) -> _Terms:
    # Control characters go first: PostgreSQL refuses a NUL in any parameter.
    query = "".join(char if char.isprintable() else " " for char in (query or "")[: MAX_QUERY_CHARS * 4])
    query = " ".join(query.split())[:MAX_QUERY_CHARS].lower()
    words = dict.fromkeys(word[:MAX_WORD_CHARS].rstrip(".@_-") for word in _WORD.findall(query))
    address = query if len(query) >= MIN_ADDRESS_CHARS and " " not in query else ""
    # Phones are stored as E.164 (+15550100): "+1 555 0100", "555-0100" and "(555) 0100" are all
    # substrings once reduced to digits; a national trunk 0 ("020 7946 0000") is not, so it goes.
    digits = re.sub(r"[^0-9]", "", query).lstrip("0") if _PHONE_TYPED.fullmatch(query) else ""
    return _Terms(tuple(words)[:MAX_WORDS], address, digits if len(digits) >= MIN_ADDRESS_CHARS else "")


class _Matches(Func):
    """``vector @@ tsquery``: the vector is to_tsvector of the column, or one stored beside it."""

    output_field = BooleanField()

    def __init__(self, column: str, tsquery: str, *, stored_vector: str = ""):
        super().__init__(F(column), Value(tsquery))
        self.stored_vector = stored_vector

    def as_sql(self, compiler, connection, **extra_context):
        column, query = self.source_expressions
        if self.stored_vector:
            vector_sql, vector_params = f"{compiler.quote_name_unless_alias(column.alias)}.{self.stored_vector}", ()
        else:
            # Spelled exactly as the expression index is, or the planner will not use it.
            column_sql, vector_params = compiler.compile(column)
            vector_sql = f"to_tsvector('simple'::regconfig, {column_sql})"
        query_sql, query_params = compiler.compile(query)
        # to_tsquery parses each word as the text was parsed ("ord-41234" is 'ord' then '-41234') but
        # joins the parts of a word as a phrase, and checking positions re-parses every candidate
        # (minutes on a common part): the parts of a word may come in any order, so phrases become
        # ANDs. Then short lexemes lose their prefix mark (MIN_PREFIX_CHARS). Only immutable functions
        # of constants: the planner folds them and estimates on the resulting tsquery.
        tsquery = (
            rf"regexp_replace(regexp_replace(to_tsquery('simple'::regconfig, {query_sql})::text,"
            rf" '<[0-9-]+>', '&', 'g'), %s, %s, 'g')::tsquery"
        )
        short_prefix = (rf"'([^']{{1,{MIN_PREFIX_CHARS - 1}}})':\*", r"'\1'")
        return f"{vector_sql} @@ {tsquery}", (*vector_params, *query_params, *short_prefix)


def _words_match(column: str, terms: _Terms, *, stored_vector: str = "") -> Q | _Matches:
    if connection.vendor == "postgresql":
        return _Matches(column, terms.tsquery, stored_vector=stored_vector)
    return Q(*(Q(**{f"{column}__icontains": word}) for word in terms.words))


def _conversation_hits(user, terms: _Terms) -> list[ConversationHit]:
    visible = visible_inbox_ids(user)
    # Ids only, newest first (the primary key follows arrival): texts are read for the chosen few.
    message_rows = (
        Message.objects.filter(_words_match("text", terms, stored_vector=MESSAGE_VECTOR), inbox_id__in=visible)
        .order_by("-id")
        .values_list("id", "conversation_id", "created_at")[:MESSAGE_SCAN]
    )
    subject_ids = (
        Conversation.objects.filter(_words_match("subject", terms), inbox_id__in=visible)
        .order_by("-last_message_at", "-id")
        .values("pk")[:CONVERSATION_LIMIT]
    )
    # Joined after the limit, through the subquery: joined before it, a common word's 10,000 subject
    # matches would each be joined to their customer, inbox and assignee, to keep 20.
    by_subject = {c.pk: c for c in _with_context(Conversation.objects.filter(pk__in=subject_ids))}

    newest: dict[int, tuple[datetime, int | None]] = {}
    for message_id, conversation_id, created_at in message_rows:
        newest.setdefault(conversation_id, (created_at, message_id))
    for conversation in by_subject.values():
        # A message hit wins over the subject: it has something to show.
        newest.setdefault(conversation.pk, (conversation.last_message_at, None))
    chosen = sorted(newest.items(), key=lambda item: (item[1][0], item[0]), reverse=True)[:CONVERSATION_LIMIT]

    message_ids = [message_id for _, (_, message_id) in chosen if message_id]
    # Costs no query when empty: Django answers pk__in=[] without asking the database.
    messages = Message.objects.filter(pk__in=message_ids, inbox_id__in=visible).select_related(
        "conversation__customer", "conversation__inbox", "conversation__assignee"
    )
    messages = messages.defer("html", "full_text", "conversation__inbox__secret", "conversation__inbox__credentials")
    by_id = {message.pk: message for message in messages}
    hits = []
    for conversation_id, (at, message_id) in chosen:
        if message_id is None:
            conversation = by_subject[conversation_id]
            hits.append(ConversationHit(conversation, None, _snippet(conversation.subject, terms.words), at))
        elif message := by_id.get(message_id):  # gone since the first query: deleted, or access revoked
            hits.append(ConversationHit(message.conversation, message_id, _snippet(message.text, terms.words), at))
    return hits


def _with_context(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    # Not the inbox's secrets: a result row never needs them, and each costs a decryption.
    return conversations.select_related("customer", "inbox", "assignee").defer("inbox__secret", "inbox__credentials")


def _customer_hits(user, terms: _Terms) -> list[CustomerHit]:
    # Only emails and phones: visitor ids and Messenger's page-scoped ids mean nothing to a person.
    address_matches = []
    if terms.address:
        # Emails are stored lowercase, so a plain LIKE (what the trigram index serves) suffices.
        address_matches.append(Q(kind=ContactIdentity.Kind.EMAIL, address__contains=terms.address))
    if terms.digits:
        address_matches.append(Q(kind=ContactIdentity.Kind.PHONE, address__contains=terms.digits))
    by_name = Customer.objects.filter(*(Q(name__icontains=word) for word in terms.words), merged_into__isnull=True)
    candidates = _some(by_name.values("pk"))
    identity = Value("")
    if address_matches:
        # Only addresses seen in the agent's inboxes: one a customer used only elsewhere is neither
        # shown nor searchable (finding the customer by it would tell whose it is), as in the sidebar.
        by_address = reduce(operator.or_, address_matches) & _seen_in_inboxes(user)
        matching = ContactIdentity.objects.filter(by_address, customer__merged_into__isnull=True)
        # A union rather than an OR in one WHERE: each side keeps its own index.
        candidates = candidates.union(_some(matching.values("customer_id")))
        identity = Subquery(
            ContactIdentity.objects.filter(by_address, customer_id=OuterRef("customer_id"))
            .order_by("id")
            .values(shown=Coalesce(NullIf("display", Value("")), "address"))[:1]
        )
    # Their conversations the agent may see, newest activity first: the first of each customer is the
    # one to open. Joined to the customer after the limit, as for subjects.
    conversation_ids = (
        Conversation.objects.filter(inbox_id__in=visible_inbox_ids(user), customer_id__in=candidates)
        .order_by("-last_message_at", "-id")
        .values("pk")[:CUSTOMER_SCAN]
    )
    conversations = (
        Conversation.objects.filter(pk__in=conversation_ids)
        .select_related("customer")
        .annotate(matched_identity=identity)
        .order_by("-last_message_at", "-id")
    )
    hits: dict[int, CustomerHit] = {}
    for conversation in conversations:
        if conversation.customer_id not in hits:
            hits[conversation.customer_id] = CustomerHit(
                conversation.customer, conversation.pk, conversation.matched_identity or ""
            )
    return list(hits.values())[:CUSTOMER_LIMIT]


def _seen_in_inboxes(user) -> Q:
    """An identity that wrote to, or runs a conversation in, one of the agent's inboxes."""
    visible = visible_inbox_ids(user)
    wrote_here = Message.objects.filter(identity=OuterRef("pk"), inbox_id__in=visible)
    runs_here = Conversation.objects.filter(identity=OuterRef("pk"), inbox_id__in=visible)
    return Q(Exists(wrote_here)) | Q(Exists(runs_here))


def _some(candidates: QuerySet) -> QuerySet:
    """At most CUSTOMER_CANDIDATES of them, whichever the cheapest plan finds first."""
    # SQLite allows no LIMIT inside a UNION; it is the embedded database, small enough to rank them all.
    if not connection.features.supports_slicing_ordering_in_compound:
        return candidates
    return candidates[:CUSTOMER_CANDIDATES]


def _snippet(text: str, words: tuple[str, ...]) -> SafeString:
    """About SNIPPET_CHARS of the text around the first match, on one line, escaped, words in <mark>."""
    # At a word's start, as full-text search matches (whole, for a word too short to be a prefix);
    # else anywhere, as icontains may have matched.
    at_word = "|".join(
        re.escape(word) + (r"[^\W_]*" if len(word) >= MIN_PREFIX_CHARS else r"(?![^\W_])")
        for word in sorted(words, key=len, reverse=True)
    )
    pattern = re.compile(rf"(?<![^\W_])(?:{at_word})", re.IGNORECASE)
    if not pattern.search(text):
        pattern = re.compile("|".join(re.escape(word) for word in words), re.IGNORECASE)
    first = pattern.search(text)
    if first is None:
        start, end = 0, min(len(text), SNIPPET_CHARS)
    else:
        start = max(0, first.start() - SNIPPET_CHARS // 3)
        end = min(len(text), start + SNIPPET_CHARS)
        # Neither open nor close on half a word, when a space is near.
        if start > 0 and (gap := _SPACE.search(text, start, first.start())):
            start = gap.end()
        if end < len(text) and (cut := max(text.rfind(c, first.end(), end) for c in " \n\t")) != -1:
            end = cut
    window = " ".join(text[start:end].split())
    parts = ["…" if start > 0 else ""]
    position = 0
    for match in pattern.finditer(window):
        parts += [escape(window[position : match.start()]), "<mark>", escape(match.group()), "</mark>"]
        position = match.end()
    parts += [escape(window[position:]), "…" if end < len(text) else ""]
    return mark_safe("".join(parts))
