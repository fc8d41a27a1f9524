"""People, teams and clients for the API's tests: real services, real Redis, real storage."""

import pytest

from sla.models import Clock
from tests import factories
from tickets.models import Assignment, Attachment, Event, Message, OutboundEmail, Ticket


@pytest.fixture
def ticket_a(customer_a):
    """Customer A's ticket, in the `support` queue as every new ticket."""
    return factories.make_ticket(customer=customer_a, subject="Server ams-17 is down")


@pytest.fixture
def rows():
    """What a request may have written: compare before and after a refused one."""

    def count() -> dict[str, int]:
        models = (Ticket, Message, Attachment, Event, Clock, Assignment, OutboundEmail)
        return {model.__name__: model.objects.count() for model in models}

    return count
