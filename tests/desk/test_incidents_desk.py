"""Incidents in the agents' desk: the list (open first, constant queries), the incident page and
its forms through the use cases (bad input changes nothing), unlinking, the credit request;
bulk linking from the queue (all or nothing); the surge banner and opening an incident from it;
the surge policy; an incident's credit in the management queue; incidents in the managers'
dashboard."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalation.models import ApprovalRequest
from incidents.models import (
    Credit,
    Incident,
    IncidentLink,
    IncidentNote,
    IncidentUpdate,
    Status,
)
from tests.desk.conftest import T0, login, staff
from tests.factories import make_customer, make_ticket
from usecases.incidents import (
    incident_open,
    incident_update,
    tickets_link,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:incidents_incident_changelist"
ADD = "admin:incidents_incident_add"


@pytest.fixture
def giulia(teams):
    return staff("giulia", "support")


@pytest.fixture
def marta(teams):
    return staff("marta", "management", manager=True)


@pytest.fixture
def paolo(teams):
    """A second manager: a manager never decides their own request."""
    return staff("paolo", "management", manager=True)


@pytest.fixture
def carla(teams):
    return make_customer(username="carla")


@pytest.fixture
def dario(teams):
    return make_customer(username="dario", language="it")


@pytest.fixture
def outage(giulia, clock):
    return incident_open(
        actor=giulia,
        title="Network outage in Amsterdam",
        description="Servers in AMS do not answer.",
        data_center="ams",
        now=T0,
    )


@pytest.fixture
def linked(outage, giulia, carla, dario, clock):
    """Two tickets of two customers, linked to the outage."""
    tickets = [
        make_ticket(customer=carla, subject="Server down", data_center="ams"),
        make_ticket(customer=dario, subject="Server giù", data_center="ams"),
    ]
    tickets_link(incident_id=outage.pk, actor=giulia, ticket_ids=[t.pk for t in tickets], now=T0)
    return tickets


def page_url(incident) -> str:
    return reverse("admin:incidents_incident_change", args=[incident.pk])


def form_url(incident, name) -> str:
    return reverse(f"admin:incidents_incident_{name}", args=[incident.pk])


def snapshot(incident) -> dict:
    """Everything a form of the incident page could change."""
    incident.refresh_from_db()
    return {
        "incident": (
            incident.title,
            incident.description,
            incident.status,
            incident.data_center,
            incident.service,
            incident.categories,
            incident.lead_id,
            incident.updated_at,
        ),
        "updates": IncidentUpdate.objects.filter(incident=incident).count(),
        "notes": IncidentNote.objects.filter(incident=incident).count(),
        "links": sorted(
            IncidentLink.objects.filter(incident=incident).values_list("ticket_id", flat=True)
        ),
        "credits": Credit.objects.filter(incident=incident).count(),
        "approvals": ApprovalRequest.objects.count(),
    }


# --- Who gets in -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["giulia", "marta"])
def test_the_incident_pages_render_for_agents_and_managers(client, request, linked, outage, who):
    login(client, request.getfixturevalue(who))

    listing = client.get(reverse(CHANGELIST))
    page = client.get(page_url(outage))
    add = client.get(reverse(ADD))

    assert listing.status_code == page.status_code == add.status_code == 200
    assert "Network outage in Amsterdam" in listing.content.decode()
    html = page.content.decode()
    assert "Servers in AMS do not answer." in html
    assert "Server down" in html and "Server giù" in html
    assert "No public update yet" in html
    assert f'action="{form_url(outage, "update")}"' in html


def test_customers_are_refused_every_incident_page(client, carla, outage):
    login(client, carla)
    urls = [
        reverse(CHANGELIST),
        reverse(ADD),
        page_url(outage),
        reverse("admin:incidents_surgepolicy_changelist"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    before = snapshot(outage)
    response = client.post(form_url(outage, "note"), {"body": "Hello"})
    assert response.status_code == 302
    assert snapshot(outage) == before


def test_an_unknown_incident_is_a_404(client, giulia, outage):
    login(client, giulia)
    assert client.get(reverse("admin:incidents_incident_change", args=[99999])).status_code == 404
    assert client.post(form_url(Incident(pk=99999), "note"), {"body": "x"}).status_code == 404


# --- The list ----------------------------------------------------------------------------------


def test_the_list_shows_open_incidents_first_with_their_linked_tickets(
    client, giulia, linked, outage
):
    with time_machine.travel(T0 - datetime.timedelta(days=2), tick=False):
        old = incident_open(actor=giulia, title="Old storage fault", description="d", now=T0)
        incident_update(
            incident_id=old.pk, actor=giulia, body="Fixed.", status=Status.RESOLVED, now=T0
        )
    newer_resolved = incident_open(
        actor=giulia,
        title="Mail delays",
        description="d",
        now=T0 + datetime.timedelta(minutes=5),
    )
    incident_update(
        incident_id=newer_resolved.pk,
        actor=giulia,
        body="Fixed.",
        status=Status.RESOLVED,
        now=T0 + datetime.timedelta(minutes=6),
    )
    login(client, giulia)

    response = client.get(reverse(CHANGELIST))

    rows = list(response.context["cl"].result_list)
    assert [row.title for row in rows] == [
        "Network outage in Amsterdam",
        "Mail delays",
        "Old storage fault",
    ]
    assert rows[0].linked == 2
    html = response.content.decode()
    assert "?queue=all&amp;incident=" in html

    open_only = client.get(reverse(CHANGELIST) + "?status=open").context["cl"].result_list
    assert [row.title for row in open_only] == ["Network outage in Amsterdam"]
    at_ams = client.get(reverse(CHANGELIST) + "?data_center=ams").context["cl"].result_list
    assert [row.title for row in at_ams] == ["Network outage in Amsterdam"]


def test_the_list_costs_the_same_queries_for_2_and_20_incidents(client, giulia, carla, clock):
    def make(count):
        for n in range(count):
            incident = incident_open(
                actor=giulia, title=f"Incident {n}", description="d", data_center="mia", now=T0
            )
            ticket = make_ticket(customer=carla, data_center="mia")
            tickets_link(incident_id=incident.pk, actor=giulia, ticket_ids=[ticket.pk], now=T0)

    login(client, giulia)
    make(2)
    client.get(reverse(CHANGELIST))
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse(CHANGELIST)).status_code == 200
    make(18)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse(CHANGELIST))
    assert len(response.context["cl"].result_list) == 20
    assert len(many) == len(few)


def test_the_incident_page_costs_the_same_queries_however_many_tickets(
    client, giulia, outage, carla, clock
):
    def link(count):
        ids = [make_ticket(customer=make_customer(), data_center="ams").pk for _ in range(count)]
        tickets_link(incident_id=outage.pk, actor=giulia, ticket_ids=ids, now=T0)

    login(client, giulia)
    link(2)
    incident_update(incident_id=outage.pk, actor=giulia, body="Looking.", now=T0)
    client.get(page_url(outage))
    with CaptureQueriesContext(connection) as few:
        client.get(page_url(outage))
    link(20)
    with CaptureQueriesContext(connection) as many:
        client.get(page_url(outage))
    assert len(many) == len(few)
