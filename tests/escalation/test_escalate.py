"""Escalating a request (usecases.escalation.ticket_escalate): the team, the clocks, the record,
and the customer told in the same thread which team, why, what happens next and when that team
starts, in the customer's own time zone."""

import datetime
import threading

import pytest
import time_machine
from django.db import close_old_connections

from core.errors import NotAllowed, ServiceError
from escalation.models import Escalation
from sla.models import Clock
from sla.policy import Metric
from teams.models import Team
from tests import factories
from tickets.models import Category, Message, OutboundEmail, Status
from usecases.escalation import ticket_escalate
from usecases.tickets import ticket_reply, ticket_resolve

MONDAY_9_ROME = datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC)
FRIDAY_2230_ROME = datetime.datetime(2026, 3, 6, 21, 30, tzinfo=datetime.UTC)
REASON = "The slowness comes from the host: our system administrators run the diagnostics."


@pytest.fixture
def sysadmin(structure):
    return factories.make_agent(username="luca", teams=(structure["sysadmin"],))


def vps_ticket(customer, *, at=MONDAY_9_ROME):
    return factories.make_ticket(
        customer=customer, subject="My VPS is slow", category=Category.VPS, now=at
    )


def notice(ticket) -> Message:
    return ticket.messages.filter(kind=Message.Kind.SYSTEM).latest("id")


def test_the_request_moves_its_clocks_keep_their_time_and_everyone_is_told(
    customer_a, agent, sysadmin, structure
):
    ticket = vps_ticket(customer_a)
    ticket_reply(
        ticket_id=ticket.pk, author=agent, body="Checking.", channel="web", now=MONDAY_9_ROME
    )
    at = MONDAY_9_ROME + datetime.timedelta(hours=1)
    before = {c.metric: c for c in Clock.objects.filter(ticket=ticket, met_at__isnull=True)}

    ticket_escalate(ticket_id=ticket.pk, actor=agent, team="sysadmin", reason=REASON, now=at)

    ticket.refresh_from_db()
    assert ticket.team.slug == "sysadmin"
    record = Escalation.objects.get(ticket=ticket)
    assert (record.from_team.slug, record.to_team.slug, record.kind, record.by) == (
        "support",
        "sysadmin",
        "agent",
        agent,
    )
    resolution = Clock.objects.get(pk=before[Metric.RESOLUTION].pk)
    assert resolution.team.slug == "sysadmin"
    # One of two working hours spent with the first line: one is left, from 10:00 Rome.
    assert resolution.due_at == at + datetime.timedelta(hours=1)
    text = notice(ticket).body
    assert "System administrators" in text
    assert REASON in text
    assert "You do not need to write it again" in text
    assert "The System administrators team is at work now." in text
    emails = OutboundEmail.objects.filter(ticket=ticket, purpose__in=["escalation", "escalated"])
    assert {(e.purpose, e.to) for e in emails} == {
        ("escalation", customer_a.email),
        ("escalated", sysadmin.email),
    }
    assert ticket.events.filter(action="team_changed").exists()


@pytest.mark.parametrize(
    ("zone", "language", "starts"),
    [
        ("Europe/Rome", "en", "Monday 9 March at 08:00 (Europe/Rome time)"),
        # New York is on summer time from 8 March, Rome from 29 March: 08:00 CET is 03:00 EDT.
        ("America/New_York", "en", "Monday 9 March at 03:00 (America/New_York time)"),
        ("Europe/Rome", "it", "lunedì 9 marzo alle 08:00 (ora Europe/Rome)"),
    ],
)
def test_on_friday_night_the_customer_learns_when_the_team_starts_in_their_zone(
    structure, agent, zone, language, starts
):
    customer = factories.make_customer(language=language, timezone=zone)
    ticket = vps_ticket(customer, at=FRIDAY_2230_ROME - datetime.timedelta(minutes=20))

    with time_machine.travel(FRIDAY_2230_ROME, tick=False):
        ticket_escalate(
            ticket_id=ticket.pk, actor=agent, team="sysadmin", reason=REASON, now=FRIDAY_2230_ROME
        )

    assert starts in notice(ticket).body


def test_the_miami_technicians_work_on_new_york_hours_and_us_holidays(structure, agent):
    customer = factories.make_customer(timezone="Europe/Rome")
    thanksgiving_10_ny = datetime.datetime(2026, 11, 26, 15, 0, tzinfo=datetime.UTC)
    ticket = factories.make_ticket(
        customer=customer,
        subject="Replace the disk",
        category=Category.DATACENTER,
        data_center="mia",
        now=thanksgiving_10_ny,
    )

    ticket_escalate(
        ticket_id=ticket.pk,
        actor=agent,
        team="datacenter-mia",
        reason="The disk is replaced on site.",
        now=thanksgiving_10_ny,
    )

    # Closed for Thanksgiving; Friday 08:00 in New York is 14:00 in Rome.
    assert "Friday 27 November at 14:00 (Europe/Rome time)" in notice(ticket).body
    resolution = Clock.objects.get(ticket=ticket, metric=Metric.RESOLUTION, met_at__isnull=True)
    friday_8_ny = datetime.datetime(2026, 11, 27, 13, 0, tzinfo=datetime.UTC)
    assert resolution.due_at == friday_8_ny + datetime.timedelta(hours=2)


def state_of(ticket):
    ticket.refresh_from_db()
    return (
        ticket.team_id,
        ticket.status,
        Escalation.objects.count(),
        ticket.messages.count(),
        OutboundEmail.objects.count(),
        list(Clock.objects.filter(ticket=ticket).values_list("team_id", "due_at")),
    )


@pytest.mark.parametrize(
    ("team", "reason", "field"),
    [
        ("sysadmin", "", "reason"),
        ("sysadmin", "   ", "reason"),
        ("nobody", REASON, "team"),
        ("", REASON, "team"),
        ("management", REASON, "team"),
        ("support", REASON, "team"),
        ("old-team", REASON, "team"),
    ],
)
def test_a_refused_escalation_changes_nothing(customer_a, agent, team, reason, field):
    Team.objects.create(slug="old-team", name="Old", tier=2, kind="billing", active=False)
    ticket = vps_ticket(customer_a)
    before = state_of(ticket)

    with pytest.raises(ServiceError) as refused:
        ticket_escalate(
            ticket_id=ticket.pk, actor=agent, team=team, reason=reason, now=MONDAY_9_ROME
        )

    assert refused.value.status == 400
    assert refused.value.field == field
    assert state_of(ticket) == before


def test_a_closed_ticket_is_not_escalated(customer_a, agent):
    ticket = vps_ticket(customer_a)
    ticket_resolve(ticket_id=ticket.pk, actor=agent, summary="Done.", now=MONDAY_9_ROME)
    ticket.refresh_from_db()
    ticket.status = Status.CLOSED
    ticket.closed_at = MONDAY_9_ROME
    ticket.save()
    before = state_of(ticket)

    with pytest.raises(ServiceError) as refused:
        ticket_escalate(
            ticket_id=ticket.pk, actor=agent, team="sysadmin", reason=REASON, now=MONDAY_9_ROME
        )

    assert (refused.value.status, refused.value.code) == (400, "ticket_closed")
    assert state_of(ticket) == before


def test_customers_do_not_escalate(customer_a):
    ticket = vps_ticket(customer_a)

    with pytest.raises(NotAllowed):
        ticket_escalate(
            ticket_id=ticket.pk,
            actor=customer_a,
            team="sysadmin",
            reason=REASON,
            now=MONDAY_9_ROME,
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_escalating_at_once_make_one_escalation(structure, customer_a):
    """Managers, who still see the ticket once it moved: the second waits for the first's
    row lock, then finds the team already owns it."""
    first = factories.make_agent(teams=(structure["management"],), manager=True)
    second = factories.make_agent(teams=(structure["management"],), manager=True)
    ticket = vps_ticket(customer_a)
    start = threading.Barrier(2)
    outcomes = []

    def escalate(agent):
        start.wait(timeout=10)
        try:
            ticket_escalate(
                ticket_id=ticket.pk, actor=agent, team="sysadmin", reason=REASON, now=MONDAY_9_ROME
            )
            outcomes.append("escalated")
        except ServiceError as exc:
            outcomes.append(exc.code)
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=escalate, args=(agent,)) for agent in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["escalated", "same_team"]
    assert Escalation.objects.filter(ticket=ticket).count() == 1
