"""Agent actions (assign, resolve) and the customer's confirm: the use cases behind them,
their errors in the API's shape."""

from django.utils import timezone

from tests import factories
from tickets.models import Assignment, Status
from usecases import tickets as use_cases


def act(api, user, ticket, name, payload=None):
    return api(user).post(f"/api/v1/tickets/{ticket.pk}/{name}/", payload or {}, format="json")


def test_null_assignee_means_take_it_yourself(api, agent, ticket_a):
    response = act(api, agent, ticket_a, "assign", {"assignee": None})

    assert response.status_code == 200
    body = response.json()
    assert body["assignee"] == {"id": agent.pk, "name": "giulia"}
    assert body["status"] == "open"
    assert Assignment.objects.filter(ticket=ticket_a, agent=agent).exists()


def test_an_empty_body_also_takes_it(api, agent, ticket_a):
    assert act(api, agent, ticket_a, "assign").json()["assignee"]["id"] == agent.pk


def test_assign_to_a_colleague_of_the_team(api, agent, manager, structure, ticket_a):
    colleague = factories.make_agent(teams=(structure["support"],))
    body = act(api, manager, ticket_a, "assign", {"assignee": colleague.pk}).json()
    assert body["assignee"]["id"] == colleague.pk


def test_assign_outside_the_team_is_a_field_error(api, agent, other_agent, ticket_a, rows):
    before = rows()

    response = act(api, agent, ticket_a, "assign", {"assignee": other_agent.pk})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["assignee"]
    assert "not a member" in body["detail"]
    assert rows() == before


def test_assign_to_a_customer_or_nobody_is_refused(api, agent, customer_b, ticket_a):
    for assignee in (customer_b.pk, 999_999):
        response = act(api, agent, ticket_a, "assign", {"assignee": assignee})
        assert response.status_code == 400
        assert response.json()["errors"] == {"assignee": ["No such agent."]}


def test_resolve_posts_the_summary_as_a_public_reply(api, agent, customer_a, ticket_a):
    response = act(api, agent, ticket_a, "resolve", {"summary": "Replaced the PSU."})

    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    messages = api(customer_a).get(f"/api/v1/tickets/{ticket_a.pk}/messages/").json()["results"]
    assert messages[-1]["body"] == "Replaced the PSU."
    assert messages[-1]["kind"] == "agent"


def test_resolving_twice_is_a_conflict(api, agent, ticket_a, rows):
    act(api, agent, ticket_a, "resolve", {"summary": "Done."})
    before = rows()

    response = act(api, agent, ticket_a, "resolve", {"summary": "Done again."})

    assert response.status_code == 409
    assert response.json()["code"] == "already_resolved"
    assert rows() == before


def test_a_blank_summary_is_refused(api, agent, ticket_a):
    response = act(api, agent, ticket_a, "resolve", {"summary": "   "})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["summary"]


def test_the_customer_confirms_and_the_ticket_closes(api, agent, customer_a, ticket_a):
    use_cases.ticket_resolve(
        ticket_id=ticket_a.pk, actor=agent, summary="Done.", now=timezone.now()
    )

    response = act(api, customer_a, ticket_a, "confirm")

    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.CLOSED


def test_confirming_an_unresolved_ticket_is_a_conflict(api, customer_a, ticket_a, rows):
    before = rows()
    response = act(api, customer_a, ticket_a, "confirm")
    assert response.status_code == 409
    assert response.json()["code"] == "not_resolved"
    assert rows() == before
