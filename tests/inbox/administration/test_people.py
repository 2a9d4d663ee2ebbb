"""Admins run the team: invitations that set a password, roles, inboxes and teams, deactivation
that signs the agent out and closes their open workspace at once; teams, labels, shared canned
responses."""

import re

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from conversations.models import CannedResponse, Conversation, Label
from conversations.selectors import canned_for
from inbox.models import AuditEntry, InboxMembership, Team
from tests.factories import ConversationFactory, InboxFactory, MembershipFactory, UserFactory
from tests.sockets import agent_socket, session_cookie

User = get_user_model()


def admin_client(admin=None) -> tuple[Client, object]:
    admin = admin or UserFactory(username="ada", first_name="Ada", is_staff=True)
    client = Client()
    client.force_login(admin)
    return client, admin


@pytest.mark.django_db
def test_an_invitation_sets_a_password_once_and_signs_the_agent_in():
    client, _ = admin_client()
    inbox, team = InboxFactory(kind="webchat", name="Website"), Team.objects.create(name="Billing")
    response = client.post(
        "/settings/people/",
        {
            "first_name": "Kim",
            "last_name": "Lee",
            "email": "Kim@Example.com",
            "role": "agent",
            "inboxes": [inbox.pk],
            "teams": [team.pk],
        },
    )
    kim = User.objects.get(username="kim@example.com")
    assert response["Location"] == f"/settings/people/{kim.pk}/"
    assert not kim.has_usable_password() and list(kim.teams.all()) == [team]
    assert InboxMembership.objects.filter(user=kim, inbox=inbox).exists()
    link = re.search(r"http://\S+/invite/\S+/", mail.outbox[0].body).group(0)
    assert mail.outbox[0].to == ["kim@example.com"]
    assert link in client.get(f"/settings/people/{kim.pk}/").content.decode()  # to pass on by hand
    path = link.split("localhost:8000", 1)[-1] if "localhost:8000" in link else "/" + link.split("/", 3)[3]
    visitor = Client()
    assert "Choose a password" in visitor.get(path).content.decode()
    short = visitor.post(path, {"new_password1": "short", "new_password2": "short"})
    assert short.status_code == 200 and "too short" in short.content.decode()
    done = visitor.post(path, {"new_password1": "a-long-passphrase-9", "new_password2": "a-long-passphrase-9"})
    assert done["Location"] == "/" and visitor.get("/").status_code == 200  # signed in, in the workspace
    assert Client().get(path).status_code == 404  # used: the link is dead
    assert AuditEntry.objects.get(action="person.invite").target_id == kim.pk


@pytest.mark.django_db
def test_roles_and_access_change_and_an_admin_cannot_demote_themselves():
    client, admin = admin_client()
    inbox = InboxFactory(kind="webchat")
    kim = UserFactory(username="kim", email="kim@example.com")
    data = {"first_name": "Kim", "email": "kim@example.com", "role": "admin", "inboxes": [inbox.pk]}
    client.post(f"/settings/people/{kim.pk}/", data)
    kim.refresh_from_db()
    assert kim.is_staff and list(kim.inboxes.all()) == [inbox]
    entry = AuditEntry.objects.get(action="person.update")
    assert entry.details["role"] == ["agent", "admin"] and entry.actor == admin
    refused = client.post(
        f"/settings/people/{admin.pk}/", {**data, "first_name": "Ada", "email": "ada@example.com", "role": "agent"}
    )
    assert "cannot take away your own admin role" in refused.content.decode()
    admin.refresh_from_db()
    assert admin.is_staff


@pytest.mark.django_db(transaction=True)
async def test_deactivating_an_agent_closes_their_open_workspace_at_once():
    inbox = await sync_to_async(InboxFactory)(kind="webchat")
    kim = (await sync_to_async(MembershipFactory)(inbox=inbox)).user
    open_one = await sync_to_async(ConversationFactory)(inbox=inbox, assignee=kim)
    socket, connected = await agent_socket(cookie=await sync_to_async(session_cookie)(kim))
    assert connected
    client, _ = await sync_to_async(admin_client)()
    response = await sync_to_async(client.post)(f"/settings/people/{kim.pk}/toggle/", follow=True)
    assert "deactivated and signed out everywhere; 1 open conversation(s) went back" in response.content.decode()
    output = await socket.receive_output(timeout=3)
    while output["type"] == "websocket.send":  # the row update of the unassigned conversation may come first
        output = await socket.receive_output(timeout=3)
    assert output == {"type": "websocket.close", "code": 4401} or output["type"] == "websocket.close"
    assert (await Conversation.objects.aget(pk=open_one.pk)).assignee_id is None
    refused = await sync_to_async(Client().post)("/login/", {"username": kim.username, "password": "pw-for-tests"})
    assert refused.status_code == 200  # the login form again: a deactivated account cannot sign in


@pytest.mark.django_db
def test_sign_out_everywhere_ends_the_agents_sessions():
    client, _ = admin_client()
    kim = UserFactory(username="kim")
    browser = Client()
    browser.force_login(kim)
    assert browser.get("/").status_code == 200
    client.post(f"/settings/people/{kim.pk}/sign-out/")
    assert browser.get("/")["Location"].startswith("/login/")


@pytest.mark.django_db
def test_teams_labels_and_shared_canned_responses_are_managed_here():
    client, _ = admin_client()
    kim = UserFactory(username="kim")
    client.post("/settings/teams/", {"name": "Returns", "members": [kim.pk]})
    team = Team.objects.get(name="Returns")
    assert list(team.members.all()) == [kim]
    client.post("/settings/labels/", {"name": "vip", "color": "#aa0000"})
    bad = client.post("/settings/labels/", {"name": "x", "color": "#12345g"})
    assert "A colour like" in bad.content.decode() and not Label.objects.filter(name="x").exists()
    label = Label.objects.get(name="vip")
    client.post(f"/settings/labels/{label.pk}/", {"name": "VIP", "color": "#bb0000"})
    assert Label.objects.get(pk=label.pk).name == "VIP"
    client.post("/settings/canned/", {"shortcut": "refund", "text": "Refunds take 5 days.", "team": team.pk})
    client.post("/settings/canned/", {"shortcut": "hello", "text": "Hello!"})
    assert {c.shortcut for c in canned_for(user=kim)} == {"refund", "hello"}
    assert {c.shortcut for c in canned_for(user=UserFactory())} == {"hello"}  # not in the team
    page = client.get("/settings/canned/").content.decode()
    assert "/refund" in page and "Returns only" in page
    client.post(f"/settings/labels/{label.pk}/delete/")
    assert not Label.objects.exists()
    personal = CannedResponse.objects.create(shortcut="mine", text="x", owner=kim)
    assert client.post(f"/settings/canned/{personal.pk}/delete/").status_code == 404  # personal: not here
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["team.create", "label.create", "label.update", "canned.create", "canned.create", "label.delete"]


@pytest.mark.django_db
def test_an_agent_cannot_manage_people_or_catalogs():
    agent = UserFactory()
    client = Client()
    client.force_login(agent)
    for url in ("/settings/people/", f"/settings/people/{agent.pk}/", "/settings/teams/", "/settings/labels/"):
        assert client.get(url).status_code == 403
    assert client.post(f"/settings/people/{agent.pk}/toggle/").status_code == 403
    agent.refresh_from_db()
    assert agent.is_active


@pytest.mark.django_db
def test_a_corrected_email_is_the_new_sign_in_name_and_a_taken_one_is_refused():
    client, _ = admin_client()
    kim = UserFactory(username="kim@exmaple.com", email="kim@exmaple.com")
    UserFactory(username="lee@example.com", email="lee@example.com")
    data = {"first_name": "Kim", "role": "agent"}
    refused = client.post(f"/settings/people/{kim.pk}/", {**data, "email": "LEE@example.com"})
    assert "already has an account" in refused.content.decode()
    client.post(f"/settings/people/{kim.pk}/", {**data, "email": "kim@example.com"})
    kim.refresh_from_db()
    assert kim.username == "kim@example.com" and kim.email == "kim@example.com"


@pytest.mark.django_db
def test_a_team_with_canned_responses_is_not_deleted_with_them():
    client, _ = admin_client()
    team = Team.objects.create(name="Returns")
    CannedResponse.objects.create(shortcut="refund", text="Refunds take 5 days.", team=team)
    response = client.post(f"/settings/teams/{team.pk}/delete/", follow=True)
    assert "still has 1 canned response" in response.content.decode()
    assert Team.objects.filter(pk=team.pk).exists() and CannedResponse.objects.filter(shortcut="refund").exists()
