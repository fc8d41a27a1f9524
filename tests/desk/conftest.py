import datetime

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from teams.models import Team
from teams.services import staff_upsert
from tests.factories import first_line_team, make_agent, make_customer, make_team
from usecases.setup import support_setup

T0 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)
CHANGELIST = "admin:tickets_ticket_changelist"


@pytest.fixture
def clock():
    """Time stands still at T0 until the test moves it."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def support(db):
    return first_line_team()


@pytest.fixture
def billing(db):
    return make_team(slug="billing", kind=Team.Kind.BILLING, tier=2)


@pytest.fixture
def agent(support):
    return make_agent(username="alice", teams=(support,))


@pytest.fixture
def billing_agent(billing):
    return make_agent(username="bruno", teams=(billing,))


@pytest.fixture
def manager(db):
    return make_agent(username="marta", manager=True)


@pytest.fixture
def customer(db):
    return make_customer(username="carla")


@pytest.fixture
def teams(db):
    """The guide's structure with its routing rules and staff permissions, as `setup_support`
    leaves them."""
    support_setup(now=T0)
    return {team.slug: team for team in Team.objects.all()}


def staff(username, *teams, manager=False):
    """A member of staff of the teams (slugs) made as `add_staff` makes one: in the `agents`
    group, with the `managers` group and its permissions when `manager`."""
    user, _created = staff_upsert(
        username=username,
        password=None,
        teams=teams,
        manager=manager,
        email=f"{username}@example.com",
        first_name=username.title(),
    )
    return user


def login(client, user):
    client.force_login(user)
    return client


def changelist_url(**params) -> str:
    url = reverse(CHANGELIST)
    if params:
        url += "?" + "&".join(f"{key}={value}" for key, value in params.items())
    return url


def change_url(ticket) -> str:
    return reverse("admin:tickets_ticket_change", args=[ticket.pk])


def listed(client, **params) -> list:
    response = client.get(changelist_url(**params))
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def flashed(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
