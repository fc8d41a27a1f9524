"""Who sees what: customer A (owner), customer B, an agent of the ticket's team, an agent of
another team and a manager, on every endpoint. What one may not see is 404, never 403."""

import pytest
from django.utils import timezone

from tests.portal.uploads import PNG, upload
from usecases import tickets as use_cases

VIEWERS = ["customer_a", "customer_b", "agent", "other_agent", "manager"]
SEES = {
    "customer_a": True,
    "customer_b": False,
    "agent": True,
    "other_agent": False,
    "manager": True,
}


@pytest.fixture
def people(customer_a, customer_b, agent, other_agent, manager):
    return {
        "customer_a": customer_a,
        "customer_b": customer_b,
        "agent": agent,
        "other_agent": other_agent,
        "manager": manager,
    }


@pytest.fixture
def thread(ticket_a, agent):
    """A's ticket with a public file from A and an internal note with a file from the agent."""
    public, _ = use_cases.ticket_reply(
        ticket_id=ticket_a.pk,
        author=ticket_a.customer,
        body="Screenshot attached.",
        channel="web",
        now=timezone.now(),
        attachments=[upload("screen.png")],
    )
    note, _ = use_cases.ticket_reply(
        ticket_id=ticket_a.pk,
        author=agent,
        body="Customer on the old plan, see the contract.",
        channel="web",
        now=timezone.now(),
        internal=True,
        attachments=[upload("contract.pdf", b"%PDF-1.4 secret")],
    )
    return {"public": public.attachments.get(), "internal": note.attachments.get()}


@pytest.mark.parametrize("viewer", VIEWERS)
def test_list(api, people, ticket_a, viewer):
    results = api(people[viewer]).get("/api/v1/tickets/").json()["results"]
    assert [t["id"] for t in results] == ([ticket_a.pk] if SEES[viewer] else [])


@pytest.mark.parametrize("viewer", VIEWERS)
def test_detail(api, people, ticket_a, viewer):
    response = api(people[viewer]).get(f"/api/v1/tickets/{ticket_a.pk}/")
    assert response.status_code == (200 if SEES[viewer] else 404)
    if not SEES[viewer]:
        assert response.json() == {"detail": "No such ticket.", "code": "not_found"}


def test_an_unknown_id_answers_like_an_invisible_one(api, customer_b, ticket_a):
    hidden = api(customer_b).get(f"/api/v1/tickets/{ticket_a.pk}/")
    missing = api(customer_b).get(f"/api/v1/tickets/{ticket_a.pk + 1000}/")
    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())


@pytest.mark.parametrize("viewer", VIEWERS)
def test_messages_list(api, people, thread, ticket_a, viewer):
    response = api(people[viewer]).get(f"/api/v1/tickets/{ticket_a.pk}/messages/")
    assert response.status_code == (200 if SEES[viewer] else 404)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_messages_post(api, people, ticket_a, rows, viewer):
    before = rows()
    response = api(people[viewer]).post(
        f"/api/v1/tickets/{ticket_a.pk}/messages/", {"body": "Hello"}, format="json"
    )
    assert response.status_code == (201 if SEES[viewer] else 404)
    if not SEES[viewer]:
        assert rows() == before


# Agent actions: 404 for whoever may not see the ticket, 403 for its own customer.
ACTIONS = {
    "assign": ({"assignee": None}, {"customer_a": 403, "agent": 200, "manager": 200}),
    "resolve": ({"summary": "Rebooted."}, {"customer_a": 403, "agent": 200, "manager": 200}),
}


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_agent_actions(api, people, ticket_a, rows, viewer, name):
    payload, allowed = ACTIONS[name]
    before = rows()

    response = api(people[viewer]).post(
        f"/api/v1/tickets/{ticket_a.pk}/{name}/", payload, format="json"
    )

    expected = allowed.get(viewer, 404)
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response.json()["code"] == "permission_denied"
    if expected != 200:
        assert rows() == before


@pytest.mark.parametrize("viewer", VIEWERS)
def test_confirm_is_for_the_customer_who_opened_it(api, people, agent, ticket_a, rows, viewer):
    use_cases.ticket_resolve(
        ticket_id=ticket_a.pk, actor=agent, summary="Fixed.", now=timezone.now()
    )
    before = rows()

    response = api(people[viewer]).post(f"/api/v1/tickets/{ticket_a.pk}/confirm/")

    expected = {"customer_a": 200, "agent": 403, "manager": 403}.get(viewer, 404)
    assert response.status_code == expected, response.content
    if expected != 200:
        assert rows() == before


@pytest.mark.parametrize("viewer", VIEWERS)
def test_public_attachment_download(api, people, thread, viewer):
    response = api(people[viewer]).get(f"/api/v1/attachments/{thread['public'].pk}/")
    assert response.status_code == (200 if SEES[viewer] else 404)
    if SEES[viewer]:
        assert b"".join(response.streaming_content) == PNG
    else:
        assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("viewer", VIEWERS)
def test_internal_attachment_download(api, people, thread, viewer):
    response = api(people[viewer]).get(f"/api/v1/attachments/{thread['internal'].pk}/")
    staff_who_see = {"agent", "manager"}
    assert response.status_code == (200 if viewer in staff_who_see else 404)


def test_an_agent_who_worked_a_ticket_keeps_seeing_it(api, agent, other_agent, ticket_a):
    use_cases.ticket_assign(
        ticket_id=ticket_a.pk, actor=agent, assignee_id=None, now=timezone.now()
    )
    ticket_a.assignments.create(agent=other_agent, assigned_at=timezone.now())
    assert api(other_agent).get(f"/api/v1/tickets/{ticket_a.pk}/").status_code == 200


def test_customers_never_see_internal_notes(api, customer_a, thread, ticket_a):
    response = api(customer_a).get(f"/api/v1/tickets/{ticket_a.pk}/messages/")

    kinds = [m["kind"] for m in response.json()["results"]]
    assert kinds == ["customer", "customer"]
    assert "old plan" not in response.content.decode()
    assert "contract.pdf" not in response.content.decode()


def test_agents_see_internal_notes(api, agent, thread, ticket_a):
    response = api(agent).get(f"/api/v1/tickets/{ticket_a.pk}/messages/")

    kinds = [m["kind"] for m in response.json()["results"]]
    assert kinds == ["customer", "customer", "internal"]
