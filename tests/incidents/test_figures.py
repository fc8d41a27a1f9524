"""What managers read of an incident, for one and for a list in one query."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.models import Incident
from incidents.selectors import Figures, figures_listed, incident_figures
from tests import factories
from tests.incidents.conftest import OPENED, fan_out
from usecases import incidents
from usecases.escalation import approval_decide


def test_the_figures_of_an_outage(incident, lead, outage_tickets, customers, structure):
    first = OPENED + dt.timedelta(minutes=4, seconds=90)  # opened at minute 4
    incidents.incident_update(
        incident_id=incident.pk, actor=lead, body="Found it.", status="identified", now=first
    )
    fan_out(first)
    # One customer followed it, then wrote all the same; another only followed.
    incidents.incident_follow(
        incident_id=incident.pk, customer=customers[0], now=OPENED - dt.timedelta(minutes=1)
    )
    incidents.incident_follow(
        incident_id=incident.pk, customer=factories.make_customer(), now=OPENED
    )
    incidents.incident_update(
        incident_id=incident.pk, actor=lead, body="Fixed.", status="resolved", now=first
    )
    manager = factories.make_agent(teams=(structure["management"],), manager=True)
    credit = incidents.credit_request(
        incident_id=incident.pk, actor=lead, reason="Down an hour.", amount=5, now=first
    )
    approval_decide(
        approval_id=credit.approval_id, actor=manager, decision="approve", note="", now=first
    )
    expected = Figures(
        tickets=3,
        customers_reached=3,
        updates=2,
        first_update_after_seconds=90,
        credits_decided=1,
        follows=2,
        wrote_anyway=1,
    )
    assert incident_figures(incident) == expected


def test_a_list_of_incidents_costs_one_query(incident, lead):
    for n in range(5):
        incidents.incident_open(actor=lead, title=f"Quiet {n}", description="x", now=OPENED)
    with CaptureQueriesContext(connection) as queries:
        rows = figures_listed(Incident.objects.order_by("pk"))
    assert len(queries) == 1
    assert [figures.tickets for _incident, figures in rows] == [3, 0, 0, 0, 0, 0]
    assert rows[1][1].first_update_after_seconds is None
