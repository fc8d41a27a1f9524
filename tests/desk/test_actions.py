"""Queue actions: take, assign to, resolve; each through the services, each ticket reported."""

import pytest

from tests.desk.conftest import T0, changelist_url, flashed, login
from tests.factories import make_agent, make_ticket
from tickets.models import Event, Message, OutboundEmail, Status
from usecases.tickets import ticket_confirm, ticket_resolve

pytestmark = pytest.mark.django_db


def run_action(client, action, tickets, url=None, **data):
    return client.post(
        url or changelist_url(queue="all"),
        {"action": action, "_selected_action": [t.pk for t in tickets], **data},
    )


def test_take_assigns_to_me_and_opens(client, clock, agent, customer):
    first, second = make_ticket(customer=customer), make_ticket(customer=customer)
    login(client, agent)

    response = run_action(client, "take", [first, second])

    assert response.status_code == 302
    for ticket in (first, second):
        ticket.refresh_from_db()
        assert ticket.assignee == agent
        assert ticket.status == Status.OPEN
        assert Event.objects.filter(ticket=ticket, action="assigned", actor=agent).exists()
    assert sorted(flashed(response)) == sorted(
        [
            ("success", f"{first.reference}: assigned to you."),
            ("success", f"{second.reference}: assigned to you."),
        ]
    )


def test_actions_never_reach_a_ticket_the_agent_may_not_see(client, clock, customer):
    ticket = make_ticket(customer=customer)
    login(client, make_agent())  # staff, in no team

    response = run_action(client, "take", [ticket])

    ticket.refresh_from_db()
    assert ticket.assignee is None
    assert flashed(response) == []


def test_take_a_closed_ticket_fails_with_a_message(client, clock, agent, customer):
    open_ticket = make_ticket(customer=customer)
    closed = make_ticket(customer=customer)
    ticket_resolve(ticket_id=closed.pk, actor=agent, summary="Done.", now=T0)
    ticket_confirm(ticket_id=closed.pk, customer=customer, now=T0)
    login(client, agent)

    response = run_action(client, "take", [open_ticket, closed])

    assert sorted(flashed(response)) == sorted(
        [
            ("success", f"{open_ticket.reference}: assigned to you."),
            ("error", f"{closed.reference}: A closed ticket cannot be assigned."),
        ]
    )


def test_assign_to_offers_the_agents_of_each_tickets_team(
    client, clock, agent, support, billing_agent, customer
):
    colleague = make_agent(username="carlo", teams=(support,))
    ticket = make_ticket(customer=customer)
    login(client, agent)

    page = run_action(client, "assign_to", [ticket])

    assert page.status_code == 200
    html = page.content.decode()
    assert f'name="assignee_{ticket.pk}"' in html
    assert f'<option value="{colleague.pk}">carlo</option>' in html
    assert f'<option value="{agent.pk}">alice</option>' in html
    assert f'value="{billing_agent.pk}"' not in html
    assert 'name="action" value="assign_to"' in html
    assert 'action="/admin/tickets/ticket/?queue=all"' in html

    response = run_action(
        client, "assign_to", [ticket], apply="1", **{f"assignee_{ticket.pk}": colleague.pk}
    )

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.assignee == colleague
    assert Event.objects.filter(ticket=ticket, action="assigned", actor=agent).exists()
    assert flashed(response) == [("success", f"{ticket.reference}: assigned.")]


def test_assign_to_refuses_someone_outside_the_team(client, clock, agent, billing_agent):
    ticket = make_ticket()
    keep = make_ticket()
    login(client, agent)

    response = run_action(
        client,
        "assign_to",
        [ticket, keep],
        apply="1",
        **{f"assignee_{ticket.pk}": billing_agent.pk, f"assignee_{keep.pk}": ""},
    )

    ticket.refresh_from_db()
    keep.refresh_from_db()
    assert ticket.assignee is None and keep.assignee is None
    assert flashed(response) == [("error", f"{ticket.reference}: No such agent.")]


def test_resolve_asks_for_a_summary_then_resolves_through_the_service(
    client, clock, agent, customer
):
    first, second = make_ticket(customer=customer), make_ticket(customer=customer)
    login(client, agent)

    page = run_action(client, "resolve", [first, second])
    assert page.status_code == 200
    assert 'name="summary"' in page.content.decode()

    again = run_action(client, "resolve", [first, second], apply="1", summary="   ")
    assert again.status_code == 200
    assert "Say how the problem was resolved." in again.content.decode()
    first.refresh_from_db()
    assert first.status == Status.NEW

    response = run_action(
        client, "resolve", [first, second], apply="1", summary="Replaced the disk."
    )

    assert response.status_code == 302
    for ticket in (first, second):
        ticket.refresh_from_db()
        assert ticket.status == Status.RESOLVED
        summary = ticket.messages.get(body="Replaced the disk.")
        assert summary.kind == Message.Kind.AGENT and summary.author == agent
        assert OutboundEmail.objects.filter(
            ticket=ticket, message=summary, purpose="resolution"
        ).exists()
    assert len(flashed(response)) == 2


def test_resolve_reports_an_already_resolved_ticket(client, clock, agent, customer):
    ticket = make_ticket(customer=customer)
    login(client, agent)
    run_action(client, "resolve", [ticket], apply="1", summary="First.")
    client.get(changelist_url())  # shows, and so consumes, the first report

    response = run_action(client, "resolve", [ticket], apply="1", summary="Second.")

    assert flashed(response) == [("error", f"{ticket.reference}: This ticket is already resolved.")]
    assert not ticket.messages.filter(body="Second.").exists()
