"""@mentions in private notes: who a note names, whatever their sign-in name.

A sign-in name may hold any character Django allows in one (letters, digits and ``@.+-_``), so an
invited agent's is their email address: ``@ana@example.com``. A mention is the longest run of those
characters after an ``@`` that does not follow a word character (so ``bob@example.com`` in a note
mentions nobody). It names the agent whose sign-in name is the longest start of that run ending at a
punctuation mark or at its end: ``@sam.`` is Sam, ``@ana@example.com,`` is Ana, and with both ``sam``
and ``sam@example.com`` in the inbox, ``@sam@example.com`` is the second. The composer's picker
inserts ``@`` and the whole sign-in name, followed by a space, which this reads back unchanged.
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.db.models.functions import Lower

MENTION = re.compile(r"(?<![\w@])@([\w.@+-]+)")
PUNCTUATION = ".@+-"
MAX_MENTIONS = 20
# Django's sign-in names are at most 150 characters: nothing longer can name anyone, and the cut
# keeps a note of punctuation from asking about thousands of names.
MAX_NAME_LENGTH = 150


def mention_candidates(token: str) -> list[str]:
    """The sign-in names a mention's run of characters may mean, longest first."""
    token = token[:MAX_NAME_LENGTH].rstrip(PUNCTUATION)
    cuts = [i for i, char in enumerate(token) if char in PUNCTUATION and i > 0]
    return [token, *(token[:i] for i in reversed(cuts))] if token else []


def mentioned_agents(*, inbox_id: int, text: str) -> list:
    """The active agents of this inbox a note's text mentions, each at most once."""
    tokens = list(dict.fromkeys(match.lower() for match in MENTION.findall(text)))[:MAX_MENTIONS]
    candidates = {token: mention_candidates(token) for token in tokens}
    names = {name for names in candidates.values() for name in names}
    if not names:
        return []
    members = {
        user.get_username().lower(): user
        for user in get_user_model()
        .objects.annotate(name=Lower("username"))
        .filter(name__in=sorted(names), memberships__inbox_id=inbox_id, is_active=True)
        .distinct()
    }
    found = {}
    for names in candidates.values():
        user = next((members[name] for name in names if name in members), None)
        if user is not None:
            found[user.pk] = user
    return list(found.values())
