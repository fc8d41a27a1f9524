"""Resolving the incident resolves every linked request with its summary; a customer's reply
reopens only their own. The outage's credit is one management decision, told in each
customer's thread exactly once. Refusals change nothing."""

import datetime as dt
from decimal import Decimal

import pytest

from core.errors import NotAllowed, ServiceError
from escalation.models import ApprovalRequest
from incidents.models import Credit, CreditLine, Incident, IncidentLink, IncidentUpdate
from tests import factories
from tests.incidents.conftest import OPENED, fan_out
from tickets.models import Channel, Message, OutboundEmail, Status, Ticket
from usecases import incidents
from usecases.escalation import approval_decide, approval_withdraw
from usecases.tickets import ticket_reply

RESOLVED_AT = OPENED + dt.timedelta(hours=2)
SUMMARY = "Power is restored on both feeds; every server is up."


def resolve(incident, lead, now=RESOLVED_AT):
    incidents.incident_update(
        incident_id=incident.pk, actor=lead, body=SUMMARY, status="resolved", now=now
    )
    fan_out(now)


def statuses(tickets) -> list[str]:
    return [Ticket.objects.get(pk=ticket.pk).status for ticket in tickets]


def test_the_resolution_resolves_every_linked_request_with_its_summary(
    incident, lead, outage_tickets
):
    resolve(incident, lead)
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_at) == ("resolved", RESOLVED_AT)
    assert statuses(outage_tickets) == [Status.RESOLVED] * 3
    for ticket in outage_tickets:
        [message] = ticket.messages.filter(body__contains=SUMMARY)
        assert message.kind == Message.Kind.SYSTEM
        assert OutboundEmail.objects.filter(ticket=ticket, purpose="resolution").count() == 1
    italian = outage_tickets[0].messages.get(body__contains=SUMMARY).body
    assert italian.startswith('Il problema "Power failure in Amsterdam" è risolto:')


def test_a_reply_reopens_only_its_own_request(incident, lead, outage_tickets, customers):
    resolve(incident, lead)
    ticket_reply(
        ticket_id=outage_tickets[1].pk,
        author=customers[1],
        body="My server is still down.",
        channel=Channel.WEB,
        now=RESOLVED_AT + dt.timedelta(minutes=30),
    )
    assert statuses(outage_tickets) == [Status.RESOLVED, Status.OPEN, Status.RESOLVED]


def test_going_back_from_resolved_needs_reopening(incident, lead, outage_tickets):
    resolve(incident, lead)
    later = RESOLVED_AT + dt.timedelta(minutes=10)
    with pytest.raises(ServiceError):
        incidents.incident_update(
            incident_id=incident.pk, actor=lead, body="Again", status="monitoring", now=later
        )
    assert IncidentUpdate.objects.filter(incident=incident).count() == 1
    update = incidents.incident_update(
        incident_id=incident.pk, actor=lead, body="It failed again.", reopen=True, now=later
    )
    incident.refresh_from_db()
    assert (update.status, incident.status, incident.resolved_at) == (
        "investigating",
        "investigating",
        None,
    )


@pytest.mark.parametrize("status", ["down", "RESOLVED", None])
def test_an_unknown_status_is_refused(incident, lead, status):
    before = IncidentUpdate.objects.count()
    with pytest.raises(ServiceError):
        incidents.incident_update(
            incident_id=incident.pk,
            actor=lead,
            body="x",
            status=status if status is not None else ["identified"],
            now=RESOLVED_AT,
        )
    assert IncidentUpdate.objects.count() == before


def test_customers_neither_open_update_nor_link(incident, customers, outage_tickets):
    customer = customers[0]
    with pytest.raises(NotAllowed):
        incidents.incident_open(actor=customer, title="Mine", description="x", now=OPENED)
    with pytest.raises(NotAllowed):
        incidents.incident_update(incident_id=incident.pk, actor=customer, body="x", now=OPENED)
    with pytest.raises(NotAllowed):
        incidents.tickets_link(
            incident_id=incident.pk,
            actor=customer,
            ticket_ids=[outage_tickets[0].pk],
            now=OPENED,
        )
    assert Incident.objects.count() == 1
    assert not IncidentUpdate.objects.exists()


def test_linking_an_unknown_or_invisible_ticket_links_none(lead, structure, outage_tickets):
    incident = incidents.incident_open(actor=lead, title="Other", description="x", now=OPENED)
    billing_agent = factories.make_agent(teams=(structure["billing"],))
    for actor, ids in [
        (lead, [outage_tickets[0].pk, 999_999]),
        (billing_agent, [outage_tickets[0].pk]),  # an L1 ticket a billing agent cannot see
        (lead, []),
        (lead, ["1"]),
    ]:
        with pytest.raises(ServiceError):
            incidents.tickets_link(incident_id=incident.pk, actor=actor, ticket_ids=ids, now=OPENED)
    assert not IncidentLink.objects.filter(incident=incident).exists()


# --- Credits ------------------------------------------------------------------------------


@pytest.fixture
def managers(structure):
    return [
        factories.make_agent(username="marta", teams=(structure["management"],), manager=True),
        factories.make_agent(username="paolo", teams=(structure["management"],), manager=True),
    ]


def credit_messages(ticket) -> list[Message]:
    return list(ticket.messages.filter(body__contains="credit"))


def test_a_fixed_credit_is_one_decision_told_in_each_thread_once(
    incident, lead, outage_tickets, managers
):
    credit = incidents.credit_request(
        incident_id=incident.pk,
        actor=lead,
        reason="Four hours without power, as our terms promise.",
        amount="25.00",
        now=RESOLVED_AT,
    )
    approval = credit.approval
    assert (approval.ticket_id, approval.amount, approval.state) == (
        None,
        Decimal("75.00"),
        "pending",
    )
    assert OutboundEmail.objects.filter(purpose="approval_requested").count() == 2
    assert fan_out(RESOLVED_AT) == 0, "nothing is told before the decision"

    decided = RESOLVED_AT + dt.timedelta(hours=1)
    approval_decide(
        approval_id=approval.pk, actor=managers[0], decision="approve", note="", now=decided
    )
    assert fan_out(decided) == 3
    assert fan_out(decided) == 0
    for ticket, text in zip(
        outage_tickets,
        [
            "La nostra direzione ha approvato un accredito di 25,00 EUR",
            "Our management has approved a credit of 25.00 EUR",
            "La nostra direzione ha approvato un accredito di 25,00 EUR",
        ],
        strict=True,
    ):
        [message] = ticket.messages.filter(kind=Message.Kind.SYSTEM, body__contains="25")
        assert message.body.startswith(text), message.body
        assert OutboundEmail.objects.filter(ticket=ticket, purpose="approval").count() == 1
    with pytest.raises(ServiceError):
        approval_decide(
            approval_id=approval.pk, actor=managers[1], decision="reject", note="", now=decided
        )


def test_a_share_credit_follows_each_customers_fee_on_their_first_ticket(
    incident, lead, outage_tickets, customers, managers
):
    second = factories.make_ticket(customer=customers[0], data_center="ams", now=OPENED)
    incidents.tickets_link(incident_id=incident.pk, actor=lead, ticket_ids=[second.pk], now=OPENED)
    fees = {str(c.pk): fee for c, fee in zip(customers, ["100", "19.90", "40"], strict=True)}
    credit = incidents.credit_request(
        incident_id=incident.pk,
        actor=managers[0],
        reason="Half a day down.",
        share_percent="10",
        fees=fees,
        now=RESOLVED_AT,
    )
    lines = dict(CreditLine.objects.filter(credit=credit).values_list("ticket_id", "amount"))
    assert lines == {
        outage_tickets[0].pk: Decimal("10.00"),
        outage_tickets[1].pk: Decimal("1.99"),
        outage_tickets[2].pk: Decimal("4.00"),
    }
    with pytest.raises(ServiceError):
        # The requesting manager never decides their own request.
        approval_decide(
            approval_id=credit.approval_id,
            actor=managers[0],
            decision="approve",
            note="",
            now=RESOLVED_AT,
        )
    approval_decide(
        approval_id=credit.approval_id,
        actor=managers[1],
        decision="reject",
        note="The terms give no credit under four hours.",
        now=RESOLVED_AT,
    )
    assert fan_out(RESOLVED_AT) == 3
    assert not credit_messages(second)
    [told] = outage_tickets[1].messages.filter(body__contains="could not approve")
    assert "The terms give no credit under four hours." in told.body


def test_a_withdrawn_credit_tells_nobody(incident, lead, outage_tickets):
    credit = incidents.credit_request(
        incident_id=incident.pk, actor=lead, reason="x", amount=10, now=RESOLVED_AT
    )
    approval_withdraw(approval_id=credit.approval_id, actor=lead, now=RESOLVED_AT)
    assert fan_out(RESOLVED_AT) == 0
    assert ApprovalRequest.objects.get().state == "withdrawn"


@pytest.mark.parametrize(
    "terms",
    [
        {},
        {"amount": "0"},
        {"amount": "-5"},
        {"amount": "ten"},
        {"amount": "1.234"},
        {"amount": "10", "share_percent": "5"},
        {"share_percent": "120", "fees": {}},
        {"share_percent": "10"},
        {"share_percent": "10", "fees": {"1": "10"}},
        {"amount": "10", "currency": "EURO"},
    ],
)
def test_a_credit_without_sound_terms_is_refused(incident, lead, outage_tickets, terms):
    with pytest.raises(ServiceError):
        incidents.credit_request(
            incident_id=incident.pk, actor=lead, reason="x", now=RESOLVED_AT, **terms
        )
    assert not Credit.objects.exists()
    assert not ApprovalRequest.objects.exists()


def test_a_customer_asks_no_credit(incident, customers):
    with pytest.raises(NotAllowed):
        incidents.credit_request(
            incident_id=incident.pk, actor=customers[0], reason="x", amount=10, now=RESOLVED_AT
        )
