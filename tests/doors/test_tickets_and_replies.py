"""Opening tickets and replying over the limit, through the portal, the admin and the API: one
count per door whatever the way in, per account and per client address; a refusal writes
nothing."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.doors.conftest import refused
from tests.factories import make_customer, make_ticket
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db

NEW_PAGE = "/tickets/new/"
CHAT_PAGE = "/chat/"
NEW_API = "/api/v1/tickets/"
FORM = {
    "subject": "My VPS is very slow",
    "description": "Since this morning every page takes ten seconds.",
    "category": "vps",
    "data_center": "",
    "priority": "high",
}
JSON = {"subject": "VPS unreachable", "body": "No ping.", "category": "vps"}


def signed_in(user, address="127.0.0.1") -> Client:
    client = Client(REMOTE_ADDR=address)
    client.force_login(user)
    return client


def counts() -> tuple[int, int]:
    return Ticket.objects.count(), Message.objects.count()


# --- Opening tickets ---------------------------------------------------------------------------


def test_a_customer_opening_tickets_in_the_portal_is_refused_after_the_limit(
    doors, customer_a, customer_b
):
    doors(ticket_open={"ip": "100/h", "account": "2/h"})
    client = signed_in(customer_a)
    for _ in range(2):
        assert client.post(NEW_PAGE, FORM).status_code == 302
    before = counts()

    response = client.post(NEW_PAGE, FORM)

    assert refused(response, within=3600)
    assert "Too many attempts" in response.content.decode()
    assert counts() == before
    # Starting a chat opens a ticket: the same door.
    assert refused(client.post(CHAT_PAGE, {"subject": "", "body": "Hello?"}), within=3600)
    assert counts() == before
    # Someone else is not held back; reading is not counted.
    assert signed_in(customer_b).post(NEW_PAGE, FORM).status_code == 302
    assert client.get(NEW_PAGE).status_code == 200


def test_one_address_opening_tickets_for_many_accounts_is_refused(doors, structure):
    doors(ticket_open={"ip": "3/h", "account": "100/h"})
    for _ in range(3):
        assert signed_in(make_customer(), "203.0.113.7").post(NEW_PAGE, FORM).status_code == 302
    before = counts()

    assert refused(signed_in(make_customer(), "203.0.113.7").post(NEW_PAGE, FORM), within=3600)
    assert counts() == before


def test_the_portal_and_the_api_share_the_count(doors, api, customer_a):
    doors(ticket_open={"ip": "100/h", "account": "2/h"})
    assert signed_in(customer_a).post(NEW_PAGE, FORM).status_code == 302
    assert api(customer_a).post(NEW_API, JSON, format="json").status_code == 201
    before = counts()

    response = api(customer_a).post(NEW_API, JSON, format="json")

    assert refused(response, within=3600)
    assert response.json() == {
        "detail": "Too many attempts. Please try again in 60 minutes.",
        "code": "throttled",
    }
    assert counts() == before
    # Opening a chat through the API opens a ticket too.
    chat = api(customer_a).post("/api/v1/chats/", {"body": "Hello?"}, format="json")
    assert refused(chat, within=3600)
    assert counts() == before


# --- Replies ----------------------------------------------------------------------------------


def messages_url(ticket) -> str:
    return f"/api/v1/tickets/{ticket.pk}/messages/"


def portal_url(ticket) -> str:
    return reverse("tickets:detail", kwargs={"ticket_id": ticket.pk})


def admin_url(ticket) -> str:
    return reverse("admin:tickets_ticket_change", args=[ticket.pk])


@pytest.fixture
def ticket(customer_a):
    return make_ticket(customer=customer_a)


def test_a_customers_replies_over_the_limit_are_refused_in_the_portal_and_the_api(
    doors, api, customer_a, ticket
):
    doors(reply={"ip": "100/h", "account": "3/h"})
    client = signed_in(customer_a)
    assert client.post(portal_url(ticket), {"body": "one"}).status_code == 302
    assert client.post(portal_url(ticket), {"body": "two"}).status_code == 302
    assert (
        api(customer_a).post(messages_url(ticket), {"body": "three"}, format="json").status_code
        == 201
    )
    before = counts()

    by_api = api(customer_a).post(messages_url(ticket), {"body": "four"}, format="json")
    by_page = client.post(portal_url(ticket), {"body": "five"})

    assert refused(by_api, within=3600) and by_api.json()["code"] == "throttled"
    assert refused(by_page, within=3600)
    assert counts() == before
    # Reading the thread is not a reply.
    assert client.get(portal_url(ticket)).status_code == 200
    assert api(customer_a).get(messages_url(ticket)).status_code == 200


def test_an_agents_replies_over_the_limit_are_refused_in_the_admin_and_the_api(
    doors, api, agent, ticket
):
    doors(reply={"ip": "100/h", "account": "2/h"})
    desk = signed_in(agent)
    assert desk.post(admin_url(ticket), {"visibility": "public", "body": "one"}).status_code == 302
    assert api(agent).post(messages_url(ticket), {"body": "two"}, format="json").status_code == 201
    before = counts()

    by_page = desk.post(admin_url(ticket), {"visibility": "internal", "body": "three"})
    by_api = api(agent).post(messages_url(ticket), {"body": "four"}, format="json")

    assert refused(by_page, within=3600)
    assert refused(by_api, within=3600)
    assert counts() == before
    assert desk.get(admin_url(ticket)).status_code == 200


def test_one_address_replying_as_many_accounts_is_refused(doors, structure):
    doors(reply={"ip": "2/h", "account": "100/h"})
    tickets = [make_ticket(customer=make_customer()) for _ in range(3)]
    for ticket in tickets[:2]:
        client = signed_in(ticket.customer, "203.0.113.7")
        assert client.post(portal_url(ticket), {"body": "hi"}).status_code == 302
    before = counts()

    client = signed_in(tickets[2].customer, "203.0.113.7")

    assert refused(client.post(portal_url(tickets[2]), {"body": "hi"}), within=3600)
    assert counts() == before
