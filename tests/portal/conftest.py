"""People, teams and files for the portal's tests: real services, real storage in tmp_path."""

import pytest

from teams.models import Team
from teams.services import support_structure_setup
from tests import factories


@pytest.fixture
def structure(db):
    """The default support structure of API.md: support (L1, 24/7), billing, data centers..."""
    support_structure_setup()
    return {team.slug: team for team in Team.objects.all()}


@pytest.fixture
def customer_a(structure):
    return factories.make_customer(username="alice", first_name="Alice")


@pytest.fixture
def customer_b(structure):
    return factories.make_customer(username="bob", first_name="Bob")


@pytest.fixture
def agent(structure):
    agent = factories.make_agent(username="giulia", teams=(structure["support"],))
    agent.first_name = "Giulia"
    agent.save(update_fields=["first_name"])
    return agent


@pytest.fixture
def client_a(client, customer_a):
    client.force_login(customer_a)
    return client
