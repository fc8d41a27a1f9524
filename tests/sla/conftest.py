"""People and missed promises for the managers' reports (API, dashboard, /metrics): tickets
go through the product's services, the clock is moved with time-machine and the real sweep
records the breaches."""

import datetime

import pytest
import time_machine

from sla.services import sweep as sla_sweep
from tests import factories

# A Monday morning: every team of the default structure is at work.
T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def people(structure):
    """One user of each role; the agent works in the first line, as every new ticket."""
    return {
        "customer": factories.make_customer(username="carla"),
        "agent": factories.make_agent(username="giulia", teams=(structure["support"],)),
        "manager": factories.make_agent(
            username="laura", teams=(structure["management"],), manager=True
        ),
        "admin": factories.make_agent(username="root", superuser=True),
    }


def open_tickets(count: int, *, at: datetime.datetime, **fields) -> list:
    """`count` tickets opened by customers at `at` (in the first line's queue)."""
    with time_machine.travel(at, tick=False):
        customer = factories.make_customer()
        return [factories.make_ticket(customer=customer, now=at, **fields) for _ in range(count)]


def sweep(at: datetime.datetime) -> list[int]:
    """The sweep's breach step at `at`: every clock past due is breached once."""
    with time_machine.travel(at, tick=False):
        return sla_sweep.breaches_record(now=at, limit=100_000)


def missed(count: int, *, at: datetime.datetime = T0) -> list:
    """`count` tickets whose acknowledgement and first response were both missed (two
    breaches each), detected by a sweep eleven minutes after they opened."""
    tickets = open_tickets(count, at=at)
    sweep(at + 11 * MINUTE)
    return tickets
