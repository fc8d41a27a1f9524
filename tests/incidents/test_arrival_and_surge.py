"""While an incident is open, a new request it covers is linked on arrival and told in its
acknowledgement that the problem is known. Requests from one site arriving faster than the
policy, with no incident covering them, alert the desk and the team on shift, once."""

import datetime as dt

import pytest

from incidents.models import IncidentLink, Surge, SurgePolicy
from tests import factories
from tests.incidents.conftest import OPENED
from tickets.models import Category, OutboundEmail
from usecases import incidents
from usecases.acknowledgement import ticket_acknowledge


def request_at(site: str, when: dt.datetime, *, category=Category.VPS, customer=None):
    return factories.make_ticket(
        customer=customer or factories.make_customer(),
        subject=f"Server at {site} down",
        category=category,
        data_center=site,
        now=when,
    )


@pytest.fixture
def known(lead):
    """An open incident at Amsterdam with one public update."""
    incident = incidents.incident_open(
        actor=lead,
        title="Network outage in Amsterdam",
        description="A core switch failed.",
        data_center="ams",
        now=OPENED,
    )
    incidents.incident_update(
        incident_id=incident.pk,
        actor=lead,
        body="The switch is being replaced.",
        status="identified",
        now=OPENED + dt.timedelta(minutes=3),
    )
    return incident


def test_a_request_the_incident_covers_is_linked_and_told_the_problem_is_known(known):
    customer = factories.make_customer(language="it", timezone="Europe/Rome")
    arrival = OPENED + dt.timedelta(minutes=10)
    ticket = request_at("ams", arrival, customer=customer)
    assert IncidentLink.objects.get(ticket=ticket).incident_id == known.pk

    message = ticket_acknowledge(ticket_id=ticket.pk, now=arrival + dt.timedelta(seconds=1))
    assert (
        'Siamo già a conoscenza di questo problema: "Network outage in Amsterdam".' in message.body
    )
    # The latest update, in the customer's zone (09:03 UTC is 10:03 in Rome).
    assert "10:03" in message.body
    assert "The switch is being replaced." in message.body
    assert f"/status/incidents/{known.pk}/" in message.body
    email = OutboundEmail.objects.get(ticket=ticket, purpose="acknowledgement")
    assert "The switch is being replaced." in email.body_text


def test_a_request_of_another_site_is_neither_linked_nor_told(known):
    arrival = OPENED + dt.timedelta(minutes=10)
    ticket = request_at("mia", arrival)
    assert not IncidentLink.objects.filter(ticket=ticket).exists()
    message = ticket_acknowledge(ticket_id=ticket.pk, now=arrival)
    assert "Network outage" not in message.body


def test_an_incident_of_categories_covers_only_those(lead):
    incident = incidents.incident_open(
        actor=lead,
        title="Billing portal down",
        description="Invoices cannot be paid.",
        categories=[Category.BILLING],
        now=OPENED,
    )
    billing = request_at("", OPENED, category=Category.BILLING)
    vps = request_at("", OPENED, category=Category.VPS)
    assert IncidentLink.objects.get(ticket=billing).incident_id == incident.pk
    assert not IncidentLink.objects.filter(ticket=vps).exists()


def test_once_resolved_the_incident_covers_no_new_request(known, lead):
    incidents.incident_update(
        incident_id=known.pk,
        actor=lead,
        body="Replaced.",
        status="resolved",
        now=OPENED + dt.timedelta(hours=1),
    )
    ticket = request_at("ams", OPENED + dt.timedelta(hours=2))
    assert not IncidentLink.objects.filter(ticket=ticket).exists()


# --- Surges -------------------------------------------------------------------------------


@pytest.fixture
def on_shift(structure):
    """The L1 agent on shift (24/7) and an Amsterdam technician, at work on a Monday morning."""
    return [
        factories.make_agent(username="l1", teams=(structure["support"],)),
        factories.make_agent(username="tech", teams=(structure["datacenter-ams"],)),
        factories.make_agent(username="miami", teams=(structure["datacenter-mia"],)),
    ]


def surge_emails():
    return list(OutboundEmail.objects.filter(purpose="surge").order_by("to"))


def test_five_requests_in_ten_minutes_alert_the_desk_and_the_team_on_shift_once(on_shift):
    start = OPENED  # Monday 09:00 UTC: 10:00 in Amsterdam, the technicians are in
    for minute in range(5):
        request_at("ams", start + dt.timedelta(minutes=2 * minute))
    now = start + dt.timedelta(minutes=8, seconds=30)
    [surge] = incidents.surges_check(now=now)
    assert (surge.site, surge.peak_count, surge.ended_at) == ("ams", 5, None)
    assert [email.to for email in surge_emails()] == ["l1@example.com", "tech@example.com"]
    assert "5 requests about servers in AMS" in surge_emails()[0].body_text
    assert f"data_center=ams&surge={surge.pk}" in surge_emails()[0].body_text

    # A sixth request a minute later: the same surge, no second alert.
    request_at("ams", now + dt.timedelta(seconds=30))
    assert incidents.surges_check(now=now + dt.timedelta(minutes=1)) == []
    assert len(surge_emails()) == 2
    assert Surge.objects.get().peak_count == 6


def test_a_pace_under_the_threshold_raises_nothing(on_shift):
    for minute in range(4):
        request_at("ams", OPENED + dt.timedelta(minutes=minute))
    assert incidents.surges_check(now=OPENED + dt.timedelta(minutes=5)) == []
    assert not Surge.objects.exists()


def test_the_surge_ends_below_half_the_threshold_and_does_not_repeat_while_it_hovers(on_shift):
    for minute in range(5):
        request_at("ams", OPENED + dt.timedelta(minutes=minute))
    incidents.surges_check(now=OPENED + dt.timedelta(minutes=5))
    # Twelve minutes on, three of them still in the window: above half (2.5), still on.
    for minute in range(3):
        request_at("ams", OPENED + dt.timedelta(minutes=10 + minute))
    assert incidents.surges_check(now=OPENED + dt.timedelta(minutes=14)) == []
    assert Surge.objects.get().ended_at is None
    # Half an hour later the window is empty: the surge ends.
    calm = OPENED + dt.timedelta(minutes=30)
    incidents.surges_check(now=calm)
    assert Surge.objects.get().ended_at == calm
    assert len(surge_emails()) == 2


def test_requests_an_open_incident_covers_raise_no_surge(known, on_shift):
    for minute in range(8):
        request_at("ams", OPENED + dt.timedelta(minutes=5 + minute))
    assert incidents.surges_check(now=OPENED + dt.timedelta(minutes=13)) == []
    assert not surge_emails()


def test_an_incident_opened_from_the_surge_answers_it(on_shift, lead):
    for minute in range(5):
        request_at("ams", OPENED + dt.timedelta(minutes=minute))
    [surge] = incidents.surges_check(now=OPENED + dt.timedelta(minutes=5))
    incident = incidents.incident_open(
        actor=lead,
        title="Amsterdam",
        description="Many servers unreachable.",
        data_center="ams",
        now=OPENED + dt.timedelta(minutes=6),
    )
    incidents.surge_covered(surge_id=surge.pk, incident=incident, now=incident.started_at)
    surge.refresh_from_db()
    assert (surge.incident_id, surge.ended_at) == (incident.pk, incident.started_at)


def test_a_disabled_policy_watches_nothing(on_shift):
    SurgePolicy.objects.update_or_create(pk=1, defaults={"enabled": False})
    for minute in range(10):
        request_at("ams", OPENED + dt.timedelta(minutes=minute))
    assert incidents.surges_check(now=OPENED + dt.timedelta(minutes=10)) == []
