"""The composer's email fields (To, Cc, Bcc, Subject), read and checked into EmailParts."""

from __future__ import annotations

from email.utils import getaddresses

from conversations.replies import EmailParts
from inbox.connectors.registry import connector_for
from inbox.models import Inbox

MAX_ADDRESSES = 20


def email_parts(post, *, inbox: Inbox) -> EmailParts:
    """What the agent typed, each address checked; ValueError with a sentence naming a bad one."""
    return EmailParts(
        to=_addresses(post.get("to", ""), inbox, "To"),
        cc=_addresses(post.get("cc", ""), inbox, "Cc"),
        bcc=_addresses(post.get("bcc", ""), inbox, "Bcc"),
        subject=" ".join(post.get("subject", "").split())[:300],
    )


def _addresses(raw: str, inbox: Inbox, field: str) -> tuple[str, ...]:
    # Commas or semicolons between addresses, as mail programs accept; a name may be quoted.
    written = [f"{name} <{address}>" if name else address for name, address in getaddresses([raw.replace(";", ",")])]
    written = [item.strip() for item in written if item.strip()]
    if len(written) > MAX_ADDRESSES:
        raise ValueError(f"{field} takes at most {MAX_ADDRESSES} addresses.")
    connector = connector_for(inbox)
    shown = []
    for item in written:
        try:
            shown.append(connector.recipient(inbox=inbox, raw=item).display)
        except ValueError as exc:
            raise ValueError(f"{field}: {exc}") from None
    return tuple(dict.fromkeys(shown))
