"""The managers' API of the SLA engine: /api/v1/sla/breaches/ and /api/v1/sla/summary/.

Who may call them, what they answer, their filters, refusals of bad input (JSON, nothing
written), a constant number of queries, and compliance figures checked against clocks whose
every moment is set with time-machine, on SQLite and on PostgreSQL.
"""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sla import selectors
from sla.models import Breach, Clock
from sla.policy import Metric
from tests.factories import make_team
from tests.sla.conftest import MINUTE, T0, missed, open_tickets, sweep
from usecases.tickets import ticket_assign, ticket_reply

BREACHES = "/api/v1/sla/breaches/"
SUMMARY = "/api/v1/sla/summary/"
SECOND = datetime.timedelta(seconds=1)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


# --- Who may call ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [BREACHES, SUMMARY])
@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 401), ("customer", 403), ("agent", 403), ("manager", 200), ("admin", 200)],
)
def test_managers_and_admins_only(api, people, url, role, status):
    missed(1)
    response = api(people[role] if role else None).get(url)

    assert response.status_code == status
    if status != 200:
        body = response.json()
        assert set(body) == {"detail", "code"}
        assert body["code"] == ("not_authenticated" if role is None else "permission_denied")
        assert "results" not in body


def test_a_session_works_too(client, people):
    client.force_login(people["manager"])
    assert client.get(BREACHES).status_code == 200


# --- The list of breaches ------------------------------------------------------------------------


def test_each_breach_says_what_was_missed_where_and_who_holds_it(api, people):
    (ticket,) = missed(1)
    with time_machine.travel(T0 + 12 * MINUTE, tick=False):
        ticket_assign(
            ticket_id=ticket.pk,
            actor=people["agent"],
            assignee_id=None,
            now=timezone.now(),
        )

    body = api(people["manager"]).get(BREACHES).json()

    assert body["count"] == 2
    assert body["previous"] is None and body["next"] is None
    first_response = next(b for b in body["results"] if b["metric"] == "first_response")
    breach = Breach.objects.get(pk=first_response["id"])
    assert first_response == {
        "id": breach.pk,
        "ticket": {"id": ticket.pk, "reference": ticket.reference, "subject": ticket.subject},
        "team": {"slug": "support", "name": ticket.team.name},
        "metric": "first_response",
        "due_at": iso(T0 + 10 * MINUTE),
        "detected_at": iso(T0 + 11 * MINUTE),
        "late_seconds": 60,
        "managers_notified_at": None,
        "assignee": {"id": people["agent"].pk, "name": "giulia"},
    }


def test_newest_first_and_paginated(api, people):
    missed(2, at=T0)
    missed(1, at=T0 + 30 * MINUTE)
    client = api(people["manager"])

    body = client.get(BREACHES, {"page_size": 2}).json()
    assert body["count"] == 6
    assert [b["detected_at"] for b in body["results"]] == [iso(T0 + 41 * MINUTE)] * 2
    assert body["next"].endswith("page=2&page_size=2")
    detected = [
        b["detected_at"]
        for page in (1, 2, 3)
        for b in client.get(BREACHES, {"page_size": 2, "page": page}).json()["results"]
    ]
    assert detected == sorted(detected, reverse=True)


def test_managers_notified_at_is_shown_once_they_are_emailed(api, people):
    from sla.services.sweep import managers_notify

    missed(1)
    managers_notify(now=T0 + 12 * MINUTE)

    results = api(people["manager"]).get(BREACHES).json()["results"]
    assert {b["managers_notified_at"] for b in results} == {iso(T0 + 12 * MINUTE)}


def test_filters_by_team_metric_and_time(api, people, structure):
    missed(1, at=T0)  # breaches detected at T0 + 11 min
    (later,) = missed(1, at=T0 + 60 * MINUTE)  # at T0 + 71 min
    # Another team's breach: move a clock to billing before it is missed.
    Clock.objects.filter(ticket=later, metric=Metric.ACKNOWLEDGEMENT).update(
        team=structure["billing"]
    )
    Breach.objects.filter(ticket=later, metric=Metric.ACKNOWLEDGEMENT).update(
        team=structure["billing"]
    )
    client = api(people["manager"])

    def ids(**params) -> set[tuple[str, str, str]]:
        response = client.get(BREACHES, params)
        assert response.status_code == 200, response.json()
        return {
            (b["team"]["slug"], b["metric"], b["detected_at"]) for b in response.json()["results"]
        }

    early, late = iso(T0 + 11 * MINUTE), iso(T0 + 71 * MINUTE)
    assert ids(team="billing") == {("billing", "acknowledgement", late)}
    assert ids(metric="first_response") == {
        ("support", "first_response", early),
        ("support", "first_response", late),
    }
    assert ids(team="support", metric="acknowledgement") == {("support", "acknowledgement", early)}
    # since is included, until excluded
    assert {d for _, _, d in ids(since=early)} == {early, late}
    assert {d for _, _, d in ids(since=iso(T0 + 11 * MINUTE + SECOND))} == {late}
    assert {d for _, _, d in ids(until=late)} == {early}
    # Offsets count: 10:10 in Rome is 09:10 UTC.
    in_rome = ids(since="2026-03-02T10:10:00+01:00", until="2026-03-02T09:30:00Z")
    assert {d for _, _, d in in_rome} == {early}
    assert len(ids(since="2026-03-02")) == 4  # a date is its midnight, UTC


BAD_WINDOWS = [
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-02-30T00:00:00Z"}, "until"),
    ({"since": "2026-03-02T10:00:00Z", "until": "2026-03-02T10:00:00Z"}, "until"),
    ({"since": "2026-03-03T00:00:00Z", "until": "2026-03-02T00:00:00Z"}, "until"),
]
BAD_FILTERS = [
    ({"team": "nobody"}, "team"),
    ({"team": "<script>"}, "team"),
    ({"metric": "happiness"}, "metric"),
]


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [(BREACHES, *case) for case in BAD_WINDOWS + BAD_FILTERS]
    + [(SUMMARY, *case) for case in BAD_WINDOWS],
)
def test_bad_filters_are_400_in_the_api_shape_and_change_nothing(api, people, url, params, field):
    missed(1)
    before = list(Breach.objects.order_by("pk").values())

    response = api(people["manager"]).get(url, params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"]
    assert list(Breach.objects.order_by("pk").values()) == before


def test_a_summary_since_now_or_later_is_400(api, people):
    with time_machine.travel(T0, tick=False):
        response = api(people["manager"]).get(SUMMARY, {"since": iso(T0)})
    assert response.status_code == 400
    assert "since" in response.json()["errors"]


def test_bad_page_is_404_in_the_api_shape(api, people):
    missed(1)
    response = api(people["manager"]).get(BREACHES, {"page": 9})
    assert response.status_code == 404
    assert set(response.json()) == {"detail", "code"}


def test_the_list_costs_the_same_queries_for_10_and_100_breaches(api, people):
    client = api(people["manager"])
    missed(5)  # 10 breaches
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(BREACHES, {"page_size": 100}).json()["results"]) == 10
    missed(45)  # 100 breaches
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(BREACHES, {"page_size": 100}).json()["results"]) == 100
    assert len(many) == len(few), [q["sql"] for q in many]


# --- The summary --------------------------------------------------------------------------------


def met_first_response(ticket, *, after: datetime.timedelta, agent) -> None:
    """An agent's public reply `after` the ticket opened at T0 meets its first response."""
    with time_machine.travel(T0 + after, tick=False):
        ticket_reply(
            ticket_id=ticket.pk,
            author=agent,
            body="Looking into it.",
            channel="web",
            now=timezone.now(),
        )


@pytest.fixture
def first_line_day(people):
    """Four tickets at T0: three first responses met after 2, 4 and 9 minutes, one missed
    (breached at T0 + 11 min); every acknowledgement missed too (no worker ran)."""
    tickets = open_tickets(4, at=T0)
    for ticket, minutes in zip(tickets, (2, 4, 9), strict=False):
        met_first_response(ticket, after=minutes * MINUTE, agent=people["agent"])
    sweep(T0 + 11 * MINUTE)
    return tickets


def row_of(body: dict, team: str, metric: str) -> dict:
    (row,) = [r for r in body["results"] if r["team"]["slug"] == team and r["metric"] == metric]
    return row


def test_summary_counts_kept_and_missed_promises_with_percentiles(api, people, first_line_day):
    body = (
        api(people["manager"])
        .get(SUMMARY, {"since": iso(T0), "until": iso(T0 + 60 * MINUTE)})
        .json()
    )

    assert body["since"] == iso(T0) and body["until"] == iso(T0 + 60 * MINUTE)
    # percentile_cont over 120, 240, 540 s: p50 = 240, p90 = 240 + 0.8 * 300 = 480
    assert row_of(body, "support", "first_response") == {
        "team": {"slug": "support", "name": first_line_day[0].team.name},
        "metric": "first_response",
        "total": 4,
        "met": 3,
        "breached": 1,
        "compliance": 0.75,
        "p50_seconds": 240,
        "p90_seconds": 480,
    }
    ack = row_of(body, "support", "acknowledgement")
    assert (ack["total"], ack["met"], ack["breached"], ack["compliance"]) == (4, 0, 4, 0.0)
    assert ack["p50_seconds"] is None
    # Nothing decided: compliance is null, not 0 or 1.
    billing = row_of(body, "billing", "resolution")
    assert billing["total"] == 0 and billing["compliance"] is None
    assert billing["p50_seconds"] is None and billing["p90_seconds"] is None
    # Every active team, every metric.
    assert {(r["team"]["slug"], r["metric"]) for r in body["results"]} >= {
        ("management", m.value) for m in Metric
    }


def test_summary_window_follows_when_the_outcome_fell(api, people, first_line_day):
    client = api(people["manager"])

    def first_response(since, until) -> tuple[int, int]:
        row = row_of(
            client.get(SUMMARY, {"since": iso(since), "until": iso(until)}).json(),
            "support",
            "first_response",
        )
        return row["met"], row["breached"]

    assert first_response(T0, T0 + 3 * MINUTE) == (1, 0)  # the reply at 2 min
    assert first_response(T0 + 2 * MINUTE, T0 + 4 * MINUTE) == (1, 0)  # since in, until out
    assert first_response(T0 + 9 * MINUTE, T0 + 11 * MINUTE) == (1, 0)  # breach at 11: out
    assert first_response(T0 + 11 * MINUTE, T0 + 12 * MINUTE) == (0, 1)
    # A promise met late stays missed: the breach decided it.
    met_first_response(first_line_day[3], after=15 * MINUTE, agent=people["agent"])
    assert first_response(T0 + 11 * MINUTE, T0 + 20 * MINUTE) == (0, 1)


def test_summary_defaults_to_the_week_before_now(api, people, first_line_day):
    client = api(people["manager"])
    with time_machine.travel(T0 + datetime.timedelta(days=7), tick=False):
        inside = row_of(client.get(SUMMARY).json(), "support", "first_response")
    with time_machine.travel(T0 + datetime.timedelta(days=7, minutes=12), tick=False):
        outside = row_of(client.get(SUMMARY).json(), "support", "first_response")
        until_only = client.get(SUMMARY, {"until": iso(T0 + 60 * MINUTE)}).json()

    assert inside["total"] == 4
    assert outside["total"] == 0
    assert until_only["since"] == iso(T0 + 60 * MINUTE - datetime.timedelta(days=7))


def test_paused_time_does_not_count_as_time_to_meet(people, structure):
    (ticket,) = open_tickets(1, at=T0)
    Clock.objects.filter(ticket=ticket, metric=Metric.RESOLUTION).update(
        met_at=T0 + 100 * MINUTE, paused_seconds=40 * 60
    )

    rows = selectors.compliance_summary(since=T0, until=T0 + 200 * MINUTE)

    (resolution,) = [r for r in rows if r.team.slug == "support" and r.metric == "resolution"]
    assert (resolution.met, resolution.p50_seconds) == (1, 60 * 60)


def test_summary_queries_do_not_grow_with_teams_or_clocks(api, people, first_line_day):
    client = api(people["manager"])
    params = {"since": iso(T0), "until": iso(T0 + 60 * MINUTE)}
    with CaptureQueriesContext(connection) as few:
        client.get(SUMMARY, params)
    for index in range(5):
        make_team(slug=f"extra-{index}", tier=2)
    missed(20)
    with CaptureQueriesContext(connection) as many:
        body = client.get(SUMMARY, params).json()
    assert row_of(body, "support", "acknowledgement")["total"] == 24
    assert len(many) == len(few)


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7], 0.9, 7),
        ([1, 2, 3, 4], 0.5, 2.5),
        ([540, 120, 240], 0.9, 480),
        ([10, 20], 0.0, 10),
        ([10, 20], 1.0, 20),
    ],
)
def test_python_percentile_interpolates_as_postgresql(values, fraction, expected):
    assert selectors.percentile_cont(values, fraction) == expected


@pytest.mark.postgres
def test_postgresql_percentiles_match_the_python_fallback(people):
    tickets = open_tickets(7, at=T0)
    for ticket, seconds in zip(tickets, (5, 61, 62, 300, 301, 599, 3), strict=True):
        met_first_response(ticket, after=datetime.timedelta(seconds=seconds), agent=people["agent"])

    rows = selectors.compliance_summary(since=T0, until=T0 + 60 * MINUTE)

    (row,) = [r for r in rows if r.team.slug == "support" and r.metric == "first_response"]
    samples = [5, 61, 62, 300, 301, 599, 3]
    assert row.p50_seconds == round(selectors.percentile_cont(samples, 0.5))
    assert row.p90_seconds == round(selectors.percentile_cont(samples, 0.9))


def test_the_schema_documents_both_endpoints(tmp_path):
    import yaml
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    paths = yaml.safe_load(out.read_text())["paths"]
    breach_filters = {p["name"] for p in paths[BREACHES]["get"]["parameters"]}
    assert {"team", "metric", "since", "until", "page"} <= breach_filters
    assert {p["name"] for p in paths[SUMMARY]["get"]["parameters"]} == {"since", "until"}
