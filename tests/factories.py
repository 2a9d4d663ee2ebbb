import functools
import uuid

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from conversations.models import Conversation, Message
from customers.models import ContactIdentity, Customer
from inbox.models import Inbox, InboxMembership

PASSWORD = "pw-for-tests"


@functools.cache
def password_hash() -> str:
    # Hashing is slow on purpose; one hash serves every test user.
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"agent{n}")
    first_name = factory.Sequence(lambda n: f"Agent{n}")
    password = factory.LazyFunction(password_hash)


class InboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Inbox

    kind = Inbox.Kind.WEBCHAT
    name = factory.Sequence(lambda n: f"Inbox {n}")
    settings = factory.LazyFunction(dict)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboxMembership

    inbox = factory.SubFactory(InboxFactory)
    user = factory.SubFactory(UserFactory)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Faker("name")


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactIdentity

    customer = factory.SubFactory(CustomerFactory)
    kind = ContactIdentity.Kind.EMAIL
    address = factory.Sequence(lambda n: f"customer{n}@example.com")
    display = factory.SelfAttribute("address")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    inbox = factory.SubFactory(InboxFactory)
    identity = factory.SubFactory(IdentityFactory)
    customer = factory.SelfAttribute("identity.customer")
    last_message_at = factory.LazyFunction(timezone.now)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    inbox = factory.SelfAttribute("conversation.inbox")
    identity = factory.SelfAttribute("conversation.identity")
    direction = Message.Direction.INBOUND
    sender_type = Message.Sender.CUSTOMER
    text = factory.Faker("sentence")
    external_id = factory.LazyFunction(lambda: uuid.uuid4().hex)
    status = Message.Status.RECEIVED
    sent_at = factory.LazyFunction(timezone.now)
