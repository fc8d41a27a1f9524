"""Ticket.next_due_at, the copy of the next promise the queue sorts and filters on: after
every change of the clocks (started, acknowledged, breached, paused, resumed, moved, met,
cancelled, restarted) it equals the running, unpaused clock due first, as the clocks
themselves say (`clock_due_next`). Tickets go through the services, the clock moved with
time-machine."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from sla.models import Clock
from sla.policy import Metric
from sla.services import acknowledgement
from sla.services import clocks as sla_clocks
from sla.services import sweep as sla_sweep
from tests.sla.conftest import MINUTE, T0
from tickets.models import Channel, Status, Ticket
from usecases.tickets import ticket_open, ticket_reply, ticket_resolve

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)


def stored(ticket: Ticket) -> datetime.datetime | None:
    return Ticket.objects.values_list("next_due_at", flat=True).get(pk=ticket.pk)


def from_clocks(ticket: Ticket) -> datetime.datetime | None:
    clock = sla_clocks.clock_due_next(Clock.objects.filter(ticket=ticket))
    return clock.due_at if clock else None


def due(ticket: Ticket, metric: Metric) -> datetime.datetime:
    return Clock.objects.filter(ticket=ticket, metric=metric).latest("started_at").due_at


def test_next_due_follows_every_change_of_the_clocks(structure, people):
    customer, agent = people["customer"], people["agent"]
    with time_machine.travel(T0, tick=False) as traveller:

        def step(delta: datetime.timedelta) -> datetime.datetime:
            traveller.shift(delta)
            return timezone.now()

        ticket = ticket_open(
            customer=customer,
            subject="Server down",
            body="No answer on 443.",
            category="vps",
            channel=Channel.WEB,
            now=T0,
        )
        # Opened: the acknowledgement is owed first, set with the ticket's own INSERT.
        assert ticket.next_due_at == stored(ticket) == due(ticket, Metric.ACKNOWLEDGEMENT)
        assert stored(ticket) == from_clocks(ticket)

        # Acknowledged: the first response is next.
        acknowledgement.acknowledgement_send(ticket_id=ticket.pk, now=step(MINUTE))
        assert stored(ticket) == due(ticket, Metric.FIRST_RESPONSE) == from_clocks(ticket)

        # Breached by the sweep: still the promise owed first, now late.
        late = step(15 * MINUTE)
        assert sla_sweep.breaches_record(now=late)
        assert stored(ticket) == due(ticket, Metric.FIRST_RESPONSE) == from_clocks(ticket)
        assert stored(ticket) < late

        # An agent answers and waits on the customer: the first response is met, the status
        # update and the resolution pause: no promise runs.
        ticket_reply(
            ticket_id=ticket.pk,
            author=agent,
            body="Which server?",
            channel=Channel.WEB,
            now=step(MINUTE),
            wait_on_customer=True,
        )
        assert stored(ticket) is None and from_clocks(ticket) is None

        # The customer answers 7 hours later: the paused clocks resume, moved by the wait.
        ticket_reply(
            ticket_id=ticket.pk,
            author=customer,
            body="srv42",
            channel=Channel.WEB,
            now=step(7 * HOUR),
        )
        assert Ticket.objects.get(pk=ticket.pk).status == Status.OPEN
        # A VPS problem is resolved within 2 hours (before the 4-hour status update).
        assert stored(ticket) == due(ticket, Metric.RESOLUTION) == from_clocks(ticket)
        assert stored(ticket) == T0 + 9 * HOUR  # 18:00 UTC: 103 minutes were left

        # Moved to billing (09:00-18:00 CET) at 16:18 UTC: 42 of the 102 minutes left fit
        # in its day, the rest waits for Tuesday morning.
        ticket = Ticket.objects.get(pk=ticket.pk)
        sla_clocks.clocks_move_team(ticket=ticket, team=structure["billing"], now=step(MINUTE))
        assert stored(ticket) == from_clocks(ticket) == T0 + datetime.timedelta(days=1)

        # Resolved: the resolution is met, the rest cancelled.
        ticket_resolve(ticket_id=ticket.pk, actor=agent, summary="Rebooted.", now=step(MINUTE))
        assert stored(ticket) is None and from_clocks(ticket) is None

        # The customer replies to the resolved ticket: it reopens with fresh promises.
        ticket_reply(
            ticket_id=ticket.pk,
            author=customer,
            body="Down again.",
            channel=Channel.WEB,
            now=step(MINUTE),
        )
        assert stored(ticket) == due(ticket, Metric.FIRST_RESPONSE) == from_clocks(ticket)


def test_a_late_acknowledgement_and_a_duplicate_keep_it_right(structure, people):
    with time_machine.travel(T0, tick=False) as traveller:
        ticket = ticket_open(
            customer=people["customer"],
            subject="Invoice",
            body="Wrong VAT.",
            category="billing",
            channel=Channel.API,
            now=T0,
        )
        traveller.shift(5 * MINUTE)
        # The worker was down: sent after its deadline, the miss is recorded with the claim.
        assert acknowledgement.acknowledgement_send(ticket_id=ticket.pk, now=T0 + 5 * MINUTE)
        assert Clock.objects.get(ticket=ticket, metric=Metric.ACKNOWLEDGEMENT).breached_at
        assert stored(ticket) == due(ticket, Metric.FIRST_RESPONSE) == from_clocks(ticket)
        # A second delivery finds nothing to claim and changes nothing.
        assert (
            acknowledgement.acknowledgement_send(ticket_id=ticket.pk, now=T0 + 6 * MINUTE) is None
        )
        assert stored(ticket) == due(ticket, Metric.FIRST_RESPONSE)
