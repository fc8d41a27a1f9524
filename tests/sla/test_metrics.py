"""/metrics for operators: Prometheus' text format read back with prometheus_client's own
parser, values checked against tickets moved through the services with time-machine, access
by bearer token or from loopback only, and a constant number of queries per scrape."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from sla.services.acknowledgement import acknowledgement_send
from sla.services.sweep import managers_notify
from tests.sla.conftest import MINUTE, T0, missed, open_tickets
from tickets.models import OutboundEmail

URL = "/metrics"
TOKEN = "s3cret-scrape-token"


def scrape(client, **headers):
    return client.get(URL, REMOTE_ADDR=headers.pop("REMOTE_ADDR", "127.0.0.1"), **headers)


def samples(response) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a scrape."""
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    return found[name, tuple(sorted(labels.items()))]


# --- Who may scrape ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("192.168.1.20", False),
        ("2001:db8::1", False),
        ("", False),
        ("not-an-address", False),
    ],
)
def test_without_a_token_only_loopback_may_scrape(client, structure, settings, address, allowed):
    settings.METRICS_TOKEN = ""
    response = scrape(client, REMOTE_ADDR=address)
    assert response.status_code == (200 if allowed else 404)


@pytest.mark.parametrize(
    ("authorization", "allowed"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (None, False),
        ("Bearer", False),
        ("Bearer wrong", False),
        (f"Bearer {TOKEN}x", False),
        (f"Token {TOKEN}", False),
        (f"Basic {TOKEN}", False),
        ("Bearer sëcret", False),
    ],
)
def test_with_a_token_every_scrape_must_bear_it(
    client, structure, settings, authorization, allowed
):
    settings.METRICS_TOKEN = TOKEN
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    # From loopback too: behind a local proxy every client would look like 127.0.0.1.
    response = scrape(client, REMOTE_ADDR="127.0.0.1", **headers)
    assert response.status_code == (200 if allowed else 404)
    remote = scrape(client, REMOTE_ADDR="203.0.113.7", **headers)
    assert remote.status_code == (200 if allowed else 404)


@pytest.mark.parametrize("role", ["customer", "agent", "manager", "admin"])
def test_signing_in_gives_no_access(client, people, settings, role):
    settings.METRICS_TOKEN = TOKEN
    client.force_login(people[role])
    assert scrape(client, REMOTE_ADDR="203.0.113.7").status_code == 404


def test_refusal_is_the_sites_plain_404(client, structure, settings):
    settings.METRICS_TOKEN = ""
    response = scrape(client, REMOTE_ADDR="10.0.0.5")
    assert response.status_code == 404
    assert "helpdesk_sla" not in response.content.decode()


def test_only_get_and_never_cached(client, structure):
    assert client.post(URL, REMOTE_ADDR="127.0.0.1").status_code == 405
    response = scrape(client)
    assert "no-cache" in response["Cache-Control"]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    openmetrics = scrape(client, HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert openmetrics["Content-Type"].startswith("application/openmetrics-text")
    assert openmetrics.content.decode().endswith("# EOF\n")


# --- What it says -------------------------------------------------------------------------------


def test_open_clocks_and_breaches_by_team_and_metric(client, structure, people):
    missed(2, at=T0)  # acknowledgement and first response missed on both
    open_tickets(1, at=T0 + 20 * MINUTE)
    with time_machine.travel(T0 + 21 * MINUTE, tick=False):
        found = samples(scrape(client))

    def open_(metric):
        return value(found, "helpdesk_sla_clocks_open", team="support", metric=metric)

    assert open_("acknowledgement") == 3  # nobody acknowledged: no worker ran
    assert open_("first_response") == 3
    assert open_("resolution") == 3
    assert (
        value(found, "helpdesk_sla_clocks_missed_open", team="support", metric="first_response")
        == 2
    )
    assert value(found, "helpdesk_sla_breaches_total", team="support", metric="first_response") == 2
    assert (
        value(found, "helpdesk_sla_breaches_unnotified", team="support", metric="acknowledgement")
        == 2
    )
    # Every team and metric is there from the start, at zero.
    assert value(found, "helpdesk_sla_breaches_total", team="billing", metric="resolution") == 0
    assert value(found, "helpdesk_sla_clocks_open", team="sysadmin", metric="status_update") == 0


def test_notified_breaches_leave_the_unnotified_gauge(client, structure, people):
    missed(1)
    managers_notify(now=T0 + 12 * MINUTE)
    found = samples(scrape(client))
    assert (
        value(found, "helpdesk_sla_breaches_total", team="support", metric="acknowledgement") == 1
    )
    assert (
        value(found, "helpdesk_sla_breaches_unnotified", team="support", metric="acknowledgement")
        == 0
    )
    # The managers' emails wait in the outbox (no worker ran).
    pending = OutboundEmail.objects.filter(state=OutboundEmail.State.PENDING).count()
    assert pending >= 1
    assert value(found, "helpdesk_outbox_emails", state="pending") == pending


def test_acknowledgement_latency_histogram(client, structure):
    tickets = open_tickets(4, at=T0)
    for ticket, seconds in zip(tickets[:3], (0.5, 4, 150), strict=True):
        acknowledgement_send(ticket_id=ticket.pk, now=T0 + datetime.timedelta(seconds=seconds))

    found = samples(scrape(client))

    name = "helpdesk_sla_acknowledgement_latency_seconds"
    buckets = {
        le: value(found, f"{name}_bucket", le=le) for le in ("1.0", "5.0", "120.0", "300.0", "+Inf")
    }
    assert buckets == {"1.0": 1, "5.0": 2, "120.0": 2, "300.0": 3, "+Inf": 3}
    assert value(found, f"{name}_count") == 3  # the fourth is still owed
    assert value(found, f"{name}_sum") == pytest.approx(154.5)


def test_outbox_oldest_pending_age(client, structure):
    empty = samples(scrape(client))
    assert value(empty, "helpdesk_outbox_oldest_pending_seconds") == 0
    assert value(empty, "helpdesk_outbox_emails", state="pending") == 0

    (ticket,) = open_tickets(1, at=T0)
    acknowledgement_send(ticket_id=ticket.pk, now=T0)  # writes the acknowledgement email
    with time_machine.travel(T0 + datetime.timedelta(seconds=90), tick=False):
        found = samples(scrape(client))
    assert value(found, "helpdesk_outbox_oldest_pending_seconds") == 90
    assert value(found, "helpdesk_outbox_emails", state="pending") >= 1


def test_a_scrape_costs_the_same_queries_whatever_the_data(client, structure):
    with CaptureQueriesContext(connection) as empty:
        scrape(client)
    missed(30)
    for ticket in open_tickets(10, at=T0 + 30 * MINUTE):
        acknowledgement_send(ticket_id=ticket.pk, now=T0 + 31 * MINUTE)
    with CaptureQueriesContext(connection) as full:
        samples(scrape(client))
    assert len(full) == len(empty)
