"""Management approvals in the thread (usecases.escalation): asked by an agent, the ticket waits
with its clocks paused; decided once, by a manager who did not ask; told to the customer in
their language; the clocks resume with the waiting time left out."""

import datetime
from decimal import Decimal

import pytest
from django.http import Http404

from core.errors import Conflict, NotAllowed, ServiceError
from escalation.models import ApprovalRequest
from sla.models import Clock
from sla.policy import Metric
from tests import factories
from tickets.models import Category, Message, OutboundEmail, Status
from usecases.escalation import approval_decide, approval_request, approval_withdraw
from usecases.tickets import ticket_reply

MONDAY_10 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
MINUTE = datetime.timedelta(minutes=1)
LATER = MONDAY_10 + 2 * HOUR


@pytest.fixture
def credit_ticket(customer_a, agent):
    ticket = factories.make_ticket(
        customer=customer_a,
        subject="Credit for the outage of 1 March",
        category=Category.BILLING_CREDIT,
        now=MONDAY_10,
    )
    ticket_reply(ticket_id=ticket.pk, author=agent, body="Looking.", channel="web", now=MONDAY_10)
    return ticket


@pytest.fixture
def other_manager(structure):
    return factories.make_agent(username="paolo", teams=(structure["management"],), manager=True)


def ask(ticket, agent, *, at=MONDAY_10 + 10 * MINUTE, **fields):
    fields = {"kind": "billing_credit", "reason": "Down 3 hours", "amount": "25.00"} | fields
    return approval_request(ticket_id=ticket.pk, actor=agent, now=at, **fields)


def running(ticket, metric):
    return Clock.objects.get(ticket=ticket, metric=metric, met_at__isnull=True, cancelled_at=None)


def test_asking_pauses_the_ticket_tells_managers_and_the_customer(
    credit_ticket, agent, manager, customer_a
):
    approval = ask(credit_ticket, agent)

    credit_ticket.refresh_from_db()
    assert credit_ticket.status == Status.PENDING_APPROVAL
    assert (approval.state, approval.amount, approval.currency) == (
        "pending",
        Decimal("25.00"),
        "EUR",
    )
    for metric in (Metric.STATUS_UPDATE, Metric.RESOLUTION):
        assert running(credit_ticket, metric).paused
    notice = credit_ticket.messages.filter(kind=Message.Kind.SYSTEM).latest("id")
    assert "approval of our management for a billing credit of 25.00 EUR" in notice.body
    assert OutboundEmail.objects.filter(purpose="approval_requested", to=manager.email).exists()
    assert OutboundEmail.objects.filter(purpose="approval", to=customer_a.email).exists()


def test_the_decision_is_told_once_and_the_clocks_leave_the_wait_out(credit_ticket, agent, manager):
    before = {
        m: running(credit_ticket, m).due_at for m in (Metric.STATUS_UPDATE, Metric.RESOLUTION)
    }
    approval = ask(credit_ticket, agent)

    approval_decide(
        approval_id=approval.pk,
        actor=manager,
        decision="approve",
        note="Credit applied to the next invoice.",
        now=MONDAY_10 + 10 * MINUTE + 3 * HOUR,
    )

    credit_ticket.refresh_from_db()
    assert credit_ticket.status == Status.OPEN
    # Three hours waited on management: every paused promise is three hours later, no more.
    for metric, due in before.items():
        clock = running(credit_ticket, metric)
        assert not clock.paused
        assert clock.due_at == due + 3 * HOUR
        assert clock.paused_seconds == 3 * 3600
    notice = credit_ticket.messages.filter(kind=Message.Kind.SYSTEM).latest("id")
    assert "Our management has approved a billing credit of 25.00 EUR." in notice.body
    assert "Credit applied to the next invoice." in notice.body
    with pytest.raises(Conflict):
        approval_decide(
            approval_id=approval.pk, actor=manager, decision="reject", note="", now=MONDAY_10
        )
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "approved"


def test_a_rejected_credit_is_told_to_the_customer_in_their_language(structure, agent, manager):
    customer = factories.make_customer(language="it")
    ticket = factories.make_ticket(
        customer=customer, category=Category.BILLING_CREDIT, now=MONDAY_10
    )
    approval = ask(ticket, agent, amount="120.5")

    approval_decide(
        approval_id=approval.pk,
        actor=manager,
        decision="reject",
        note="Il disservizio rientra nella manutenzione annunciata.",
        now=MONDAY_10 + 2 * HOUR,
    )

    notice = ticket.messages.filter(kind=Message.Kind.SYSTEM).latest("id").body
    assert "Il nostro management non ha potuto approvare un credito di 120,50 EUR." in notice
    assert "Il disservizio rientra nella manutenzione annunciata." in notice


def test_only_another_manager_decides(credit_ticket, customer_a, agent, manager, other_manager):
    approval = ask(credit_ticket, manager)

    for person, refusal in ((customer_a, NotAllowed), (agent, NotAllowed), (manager, NotAllowed)):
        with pytest.raises(refusal):
            approval_decide(
                approval_id=approval.pk, actor=person, decision="approve", note="", now=LATER
            )
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "pending"

    approval_decide(
        approval_id=approval.pk, actor=other_manager, decision="approve", note="", now=LATER
    )
    assert ApprovalRequest.objects.get(pk=approval.pk).decided_by == other_manager


def test_the_one_who_asked_may_withdraw_and_the_ticket_goes_on(credit_ticket, agent):
    approval = ask(credit_ticket, agent)

    approval_withdraw(approval_id=approval.pk, actor=agent, now=MONDAY_10 + 2 * HOUR)

    credit_ticket.refresh_from_db()
    assert credit_ticket.status == Status.OPEN
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "withdrawn"


def state_of(ticket):
    ticket.refresh_from_db()
    return (ticket.status, ApprovalRequest.objects.count(), ticket.messages.count())


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "gift"}, "kind"),
        ({"reason": "  "}, "reason"),
        ({"amount": None}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "10", "currency": "EURO"}, "currency"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(credit_ticket, agent, fields, field):
    before = state_of(credit_ticket)

    with pytest.raises(ServiceError) as refused:
        ask(credit_ticket, agent, **fields)

    assert (refused.value.status, refused.value.field) == (400, field)
    assert state_of(credit_ticket) == before


def test_one_pending_request_at_a_time_and_none_on_a_resolved_ticket(credit_ticket, agent):
    ask(credit_ticket, agent)
    with pytest.raises(Conflict):
        ask(credit_ticket, agent, kind="special", amount=None)


def test_an_account_exception_needs_no_amount(credit_ticket, agent, manager):
    approval = ask(credit_ticket, agent, kind="account_exception", amount=None)

    assert (approval.amount, approval.currency) == (None, "")


def test_an_unknown_request_is_404(manager):
    with pytest.raises(Http404):
        approval_decide(
            approval_id=999_999, actor=manager, decision="approve", note="", now=MONDAY_10
        )
