"""Which connector serves which inbox kind: the seam through which conversations reach the channels.

The channel packages (``inbox/connectors/<kind>/``) sit above conversations, yet conversations parse
and send through them. So conversations never import a channel: the site registers one connector per
kind at startup (``inbox/apps.py``), and everyone looks it up here. Explicit, so that nothing
registers itself by being imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inbox.connectors.contract import Connector

if TYPE_CHECKING:
    from inbox.models import Inbox

CONNECTORS: dict[str, Connector] = {}


def register(connector: Connector) -> None:
    CONNECTORS[connector.kind] = connector


def connector_for(inbox: Inbox) -> Connector:
    return connector_for_kind(inbox.kind)


def connector_for_kind(kind: str) -> Connector:
    return CONNECTORS[kind]
