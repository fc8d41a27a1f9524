"""Fixtures shared by the API, chat and SLA tests: the default support structure, the people of
their scenarios and an API client per user. Loaded for every test by tests/conftest.py; a
folder's own conftest may still define a fixture of the same name for its scenarios."""

import uuid

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from teams.models import Team
from teams.services import support_structure_setup
from tests import factories


def cache_made_private(settings) -> None:
    """A cache key prefix for this test alone: throttle counters, chat presence marks and the
    dashboard's "seen" marks live in the real Redis cache, and every test client comes from
    127.0.0.1 with user ids a rolled-back test may reuse."""
    default = settings.CACHES["default"]
    settings.CACHES = {
        **settings.CACHES,
        "default": {**default, "KEY_PREFIX": f"{default.get('KEY_PREFIX', '')}-{uuid.uuid4().hex}"},
    }


@pytest.fixture(autouse=True)
def private_cache(settings):
    """Every test counts its own attempts at the doors (core.throttle), keeps its own chat
    presence and dashboard marks: all of them live in the real Redis cache, and every test
    client comes from 127.0.0.1 with user ids a rolled-back test may reuse."""
    cache_made_private(settings)


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    """Each test stores its files in its own directory, outside every web root."""
    location = tmp_path / "attachments"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(location)}},
    }
    return location


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
