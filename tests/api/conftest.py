"""People, teams and clients for the API's tests: real services, real Redis, real storage."""

import uuid

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from escalation.models import Team
from escalation.services import support_structure_setup
from sla.models import Clock
from tests import factories
from tickets.models import Assignment, Attachment, Event, Message, OutboundEmail, Ticket


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    """Each test stores its files in its own directory, outside every web root."""
    location = tmp_path / "attachments"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(location)}},
    }
    return location


@pytest.fixture(autouse=True)
def private_throttles(settings):
    """Throttle counters live in the real Redis cache; a key prefix per test keeps one test's
    requests from counting against the next (all of them come from 127.0.0.1)."""
    default = settings.CACHES["default"]
    settings.CACHES = {
        **settings.CACHES,
        "default": {**default, "KEY_PREFIX": f"{default.get('KEY_PREFIX', '')}-{uuid.uuid4().hex}"},
    }


@pytest.fixture
def structure(db):
    """The default support structure of API.md: support (L1, 24/7), billing, data centers..."""
    support_structure_setup()
    return {team.slug: team for team in Team.objects.all()}


@pytest.fixture
def customer_a(structure):
    return factories.make_customer(username="alice", first_name="Alice", last_name="Rossi")


@pytest.fixture
def customer_b(structure):
    return factories.make_customer(username="bob")


@pytest.fixture
def agent(structure):
    """An L1 agent: the `support` team owns every new ticket."""
    return factories.make_agent(username="giulia", teams=(structure["support"],))


@pytest.fixture
def other_agent(structure):
    """An agent of another team, who never worked the tickets of these tests."""
    return factories.make_agent(username="bruno", teams=(structure["billing"],))


@pytest.fixture
def manager(structure):
    return factories.make_agent(username="marta", teams=(structure["management"],), manager=True)


@pytest.fixture
def api():
    """`api(user)`: a client authenticated with the user's token; `api()`: anonymous."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _created = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


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
