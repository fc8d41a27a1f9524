"""Consulting a team without moving the request, and the estimate of a non-standard request
(usecases.escalation)."""

import datetime

import pytest

from core.errors import Conflict, ServiceError
from escalation.models import Consultation
from sla.models import Clock
from sla.policy import Metric
from tests import factories
from tickets.models import Category, Message, OutboundEmail
from tickets.selectors import access_ticket, tickets_visible_to
from usecases.escalation import ticket_consult, ticket_estimate
from usecases.tickets import ticket_assign, ticket_reply

MONDAY_10 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
def technician(structure):
    return factories.make_agent(username="sanne", teams=(structure["datacenter-ams"],))


@pytest.fixture
def ticket(customer_a):
    return factories.make_ticket(
        customer=customer_a,
        subject="Server ams-17 makes a noise",
        category=Category.DEDICATED,
        data_center="ams",
        now=MONDAY_10,
    )


def test_a_consulted_team_sees_the_ticket_answers_with_a_note_and_the_owner_is_told(
    ticket, agent, technician, customer_a
):
    ticket_assign(ticket_id=ticket.pk, actor=agent, assignee_id=None, now=MONDAY_10)
    assert not tickets_visible_to(technician).filter(pk=ticket.pk).exists()
    clocks_before = list(Clock.objects.filter(ticket=ticket).values_list("team_id", "due_at"))

    consultation = ticket_consult(
        ticket_id=ticket.pk,
        actor=agent,
        team="datacenter-ams",
        note="Is the fan of ams-17 failing?",
        now=MONDAY_10,
    )

    assert access_ticket(technician, ticket.pk) == ticket
    assert OutboundEmail.objects.filter(purpose="consulted", to=technician.email).exists()
    answer, _new = ticket_reply(
        ticket_id=ticket.pk,
        author=technician,
        body="Yes, we replace it tonight.",
        channel="web",
        now=MONDAY_10 + datetime.timedelta(minutes=30),
        internal=True,
    )
    consultation.refresh_from_db()
    assert (consultation.state, consultation.answer, consultation.answered_by) == (
        "answered",
        answer,
        technician,
    )
    assert OutboundEmail.objects.filter(purpose="consultation_answered", to=agent.email).exists()
    # The request stays with the first line, its clocks too; the customer sees none of it.
    ticket.refresh_from_db()
    assert ticket.team.slug == "support"
    assert list(Clock.objects.filter(ticket=ticket).values_list("team_id", "due_at")) == (
        clocks_before
    )
    assert (
        not ticket.messages.filter(kind=Message.Kind.SYSTEM)
        .exclude(body__startswith="Thank you")
        .exists()
    )
    assert not OutboundEmail.objects.filter(to=customer_a.email).exists()


@pytest.mark.parametrize(
    ("team", "note", "field"),
    [("datacenter-ams", " ", "note"), ("nowhere", "Help?", "team"), ("support", "Help?", "team")],
)
def test_a_refused_consultation_changes_nothing(ticket, agent, team, note, field):
    with pytest.raises(ServiceError) as refused:
        ticket_consult(ticket_id=ticket.pk, actor=agent, team=team, note=note, now=MONDAY_10)

    assert refused.value.field == field
    assert not Consultation.objects.exists()
    assert ticket.messages.count() == 1


def test_a_team_is_asked_once_at_a_time(ticket, agent):
    ticket_consult(ticket_id=ticket.pk, actor=agent, team="sysadmin", note="Ideas?", now=MONDAY_10)

    with pytest.raises(Conflict):
        ticket_consult(
            ticket_id=ticket.pk, actor=agent, team="sysadmin", note="Again?", now=MONDAY_10
        )


def test_an_estimate_becomes_the_resolution_target_and_is_told_to_the_customer(structure, agent):
    customer = factories.make_customer(timezone="America/New_York")
    ticket = factories.make_ticket(
        customer=customer,
        subject="Custom firewall rule set for my VPS",
        category=Category.CUSTOM_CONFIG,
        now=MONDAY_10,
    )

    ticket_estimate(
        ticket_id=ticket.pk,
        actor=agent,
        seconds=3 * 3600,
        note="We write the rules and test them on a copy first.",
        now=MONDAY_10 + datetime.timedelta(minutes=5),
    )

    ticket.refresh_from_db()
    assert ticket.estimate_seconds == 3 * 3600
    resolution = Clock.objects.get(ticket=ticket, metric=Metric.RESOLUTION, cancelled_at=None)
    assert resolution.target_seconds == 3 * 3600
    assert resolution.due_at == MONDAY_10 + datetime.timedelta(hours=3, minutes=5)
    notice = ticket.messages.filter(kind=Message.Kind.SYSTEM).latest("id").body
    # 13:05 UTC is 08:05 in New York (standard time until 8 March).
    assert "by Monday 2 March at 08:05 (America/New_York time)" in notice
    assert "We write the rules and test them on a copy first." in notice


@pytest.mark.parametrize("seconds", [0, 59, 91 * 86400, "3600", 3600.0, None, True])
def test_an_estimate_out_of_bounds_is_refused(ticket, agent, seconds):
    with pytest.raises(ServiceError) as refused:
        ticket_estimate(ticket_id=ticket.pk, actor=agent, seconds=seconds, note="", now=MONDAY_10)

    assert refused.value.field == "seconds"
    ticket.refresh_from_db()
    assert ticket.estimate_seconds is None
