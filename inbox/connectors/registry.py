"""Which connector serves which inbox kind. Explicit, so that nothing registers itself by import."""

from inbox.connectors.base import Connector
from inbox.connectors.email import EmailConnector
from inbox.connectors.fake import FakeConnector
from inbox.connectors.messenger import MessengerConnector
from inbox.connectors.sms import SmsConnector
from inbox.connectors.webchat import WebchatConnector
from inbox.models import Inbox

CONNECTORS: dict[str, Connector] = {
    Inbox.Kind.WEBCHAT: WebchatConnector(),
    Inbox.Kind.EMAIL: EmailConnector(),
    Inbox.Kind.SMS: SmsConnector(),
    Inbox.Kind.MESSENGER: MessengerConnector(),
    Inbox.Kind.FAKE: FakeConnector(),
}


def connector_for(inbox: Inbox) -> Connector:
    return CONNECTORS[inbox.kind]
