"""People and chats for the live chat's pages: the support structure of API.md, real services."""

import datetime

import pytest
import time_machine

from teams.models import Team
from teams.services import support_structure_setup
from tests import factories
from tickets.models import Channel

T0 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
def clock():
    """Time stands still at T0 until the test moves it."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def structure(db):
    support_structure_setup()
    return {team.slug: team for team in Team.objects.all()}


@pytest.fixture
def customer(structure):
    return factories.make_customer(username="carla", first_name="Carla")


@pytest.fixture
def agent(structure):
    return factories.make_agent(username="giulia", teams=(structure["support"],))


@pytest.fixture
def billing_agent(structure):
    return factories.make_agent(username="marco", teams=(structure["billing"],))


def open_chat(customer, *, body: str = "Hello, is anyone there?", now=None, **fields):
    return factories.make_ticket(
        customer=customer, subject="Live chat", body=body, channel=Channel.CHAT, now=now, **fields
    )
