"""An outage and the people it hits: three customers of the Amsterdam site, two languages and
two time zones, each with a ticket linked to one incident."""

import datetime as dt

import pytest

from tests import factories
from tickets.models import Category
from usecases import incidents

OPENED = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def lead(structure):
    """The L1 agent who leads the incident."""
    return factories.make_agent(username="lucia", teams=(structure["support"],))


@pytest.fixture
def customers(structure):
    return [
        factories.make_customer(username="anna", language="it", timezone="Europe/Rome"),
        factories.make_customer(username="ben", language="en", timezone="America/New_York"),
        factories.make_customer(username="carla", language="it", timezone="Europe/Rome"),
    ]


@pytest.fixture
def outage_tickets(customers):
    """One request per customer, opened before anybody knew of an outage."""
    return [
        factories.make_ticket(
            customer=customer,
            subject=f"Server of {customer.username} unreachable",
            body="It stopped answering.",
            category=Category.DEDICATED,
            data_center="ams",
            now=OPENED,
        )
        for customer in customers
    ]


@pytest.fixture
def incident(lead, outage_tickets):
    """The outage at Amsterdam, its tickets linked by the lead five minutes in."""
    incident = incidents.incident_open(
        actor=lead,
        title="Power failure in Amsterdam",
        description="A power feed of the Amsterdam data center failed.",
        data_center="ams",
        now=OPENED + dt.timedelta(minutes=4),
    )
    incidents.tickets_link(
        incident_id=incident.pk,
        actor=lead,
        ticket_ids=[ticket.pk for ticket in outage_tickets],
        now=OPENED + dt.timedelta(minutes=5),
    )
    return incident


def fan_out(now: dt.datetime) -> int:
    """What the worker does after an update: every pending delivery, in batches."""
    posted = 0
    while done := incidents.fanout_batch(now=now):
        posted += done
    return posted
