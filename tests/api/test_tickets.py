"""Tickets: opening through the API, the ticket object, the list with its filters and pages."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sla.models import Clock
from tests import factories
from tickets.models import Event, Ticket
from usecases import tickets as use_cases

T0 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)
NEW = {
    "subject": "VPS unreachable",
    "body": "Since 10:00 it does not answer ping.",
    "category": "vps",
}


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def test_a_customer_opens_a_ticket_for_themselves(api, customer_a, clock):
    response = api(customer_a).post("/api/v1/tickets/", NEW, format="json")

    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    ticket = Ticket.objects.get()
    assert response["Location"] == f"/api/v1/tickets/{ticket.pk}/"
    body = response.json()
    assert body == {
        "id": ticket.pk,
        "reference": ticket.reference,
        "subject": "VPS unreachable",
        "category": "vps",
        "status": "new",
        "priority": "normal",
        "channel": "api",
        "data_center": "",
        "team": {"slug": "support", "name": "Support engineers", "tier": 1},
        "assignee": None,
        "customer": {"id": customer_a.pk, "name": "Alice Rossi"},
        "created_at": iso(T0),
        "updated_at": iso(T0),
        "last_activity_at": iso(T0),
        "sla": {
            "acknowledgement": {
                "due_at": iso(T0 + datetime.timedelta(seconds=120)),
                "met_at": None,
                "breached_at": None,
                "paused": False,
            },
            "first_response": {
                "due_at": iso(T0 + datetime.timedelta(seconds=600)),
                "met_at": None,
                "breached_at": None,
                "paused": False,
            },
            "status_update": {
                "due_at": iso(T0 + datetime.timedelta(hours=4)),
                "met_at": None,
                "breached_at": None,
                "paused": False,
            },
            "resolution": {
                "due_at": iso(T0 + datetime.timedelta(hours=2)),
                "met_at": None,
                "breached_at": None,
                "paused": False,
            },
        },
        "estimate_seconds": None,
        "pending_approval": None,
        "incident": None,
    }
    assert ticket.customer == customer_a
    first = ticket.messages.get()
    assert (first.kind, first.channel, first.body) == (
        "customer",
        "api",
        "Since 10:00 it does not answer ping.",
    )
    assert Event.objects.get(ticket=ticket, action="opened").actor == customer_a


def test_opening_a_ticket_costs_twelve_queries(api, customer_a, django_assert_num_queries):
    """Counted so that it cannot grow unnoticed (bench/tickets_create.py measures the time):
    the token; BEGIN; the first line and its calendar (3); the reference; the ticket, its
    message; the policy version; the four clocks; the event; COMMIT. No open incident covers
    it: which one would is read from memory, and the answer knows it was linked to none."""
    client = api(customer_a)
    assert client.post("/api/v1/tickets/", NEW, format="json").status_code == 201

    with django_assert_num_queries(12):
        response = client.post("/api/v1/tickets/", NEW, format="json")

    assert response.status_code == 201
    assert response.json()["sla"]["resolution"]["due_at"]


def test_priority_and_data_center_are_kept(api, customer_a):
    payload = {**NEW, "category": "datacenter", "priority": "urgent", "data_center": "ams"}
    body = api(customer_a).post("/api/v1/tickets/", payload, format="json").json()
    assert (body["priority"], body["data_center"], body["category"]) == (
        "urgent",
        "ams",
        "datacenter",
    )


def test_a_customer_naming_another_customer_still_opens_for_themselves(api, customer_a, customer_b):
    payload = {**NEW, "customer": customer_b.pk}
    body = api(customer_a).post("/api/v1/tickets/", payload, format="json").json()
    assert body["customer"]["id"] == customer_a.pk


def test_an_agent_opens_a_ticket_for_a_customer(api, agent, customer_b):
    response = api(agent).post(
        "/api/v1/tickets/", {**NEW, "customer": customer_b.pk}, format="json"
    )

    assert response.status_code == 201
    ticket = Ticket.objects.get()
    assert ticket.customer == customer_b
    assert ticket.channel == "api"
    assert Event.objects.get(ticket=ticket, action="opened").actor == agent


@pytest.mark.parametrize("who", ["nobody", "agent", "manager", "inactive", "missing"])
def test_an_agent_must_name_an_existing_customer(api, agent, manager, customer_b, rows, who):
    customer_b.is_active = who != "inactive"
    customer_b.save()
    customer_id = {
        "nobody": 999_999,
        "agent": agent.pk,
        "manager": manager.pk,
        "inactive": customer_b.pk,
        "missing": None,
    }[who]
    payload = {**NEW, **({"customer": customer_id} if customer_id else {})}
    before = rows()

    response = api(agent).post("/api/v1/tickets/", payload, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["customer"]
    assert rows() == before


def test_opening_with_attachments_in_multipart(api, customer_a):
    from tests.portal.uploads import PNG, upload

    response = api(customer_a).post(
        "/api/v1/tickets/",
        {**NEW, "attachments": [upload("boot.png"), upload("dmesg.log", b"kernel panic")]},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    message = Ticket.objects.get().messages.get()
    files = {a.filename: a for a in message.attachments.all()}
    assert set(files) == {"boot.png", "dmesg.log"}
    assert files["boot.png"].file.read() == PNG


def test_ticket_detail_is_the_same_object(api, customer_a, ticket_a):
    created = api(customer_a).get("/api/v1/tickets/").json()["results"][0]
    detail = api(customer_a).get(f"/api/v1/tickets/{ticket_a.pk}/")
    assert detail.status_code == 200
    assert detail.json() == created


def test_sla_shows_the_running_clock_else_the_latest(api, agent, ticket_a, clock):
    clock.shift(60)
    use_cases.ticket_assign(
        ticket_id=ticket_a.pk, actor=agent, assignee_id=None, now=timezone.now()
    )
    clock.shift(60)
    use_cases.ticket_reply(
        ticket_id=ticket_a.pk,
        author=agent,
        body="Looking at it.",
        channel="web",
        now=timezone.now(),
    )

    sla = api(agent).get(f"/api/v1/tickets/{ticket_a.pk}/").json()["sla"]

    assert sla["first_response"]["met_at"] == iso(timezone.now())
    assert sla["resolution"]["met_at"] is None


def test_a_paused_clock_says_so(api, agent, ticket_a):
    use_cases.ticket_reply(
        ticket_id=ticket_a.pk,
        author=agent,
        body="Which IP?",
        channel="web",
        now=timezone.now(),
        wait_on_customer=True,
    )
    sla = api(agent).get(f"/api/v1/tickets/{ticket_a.pk}/").json()["sla"]
    assert sla["resolution"]["paused"] is True


def test_a_ticket_without_clocks_has_null_sla_entries(api, agent, ticket_a):
    Clock.objects.filter(ticket=ticket_a, metric__in=["status_update", "resolution"]).delete()
    sla = api(agent).get(f"/api/v1/tickets/{ticket_a.pk}/").json()["sla"]
    assert sla["status_update"] is None and sla["resolution"] is None
    assert sla["acknowledgement"] is not None


# --- List -----------------------------------------------------------------------------------


def test_the_list_is_paginated(api, customer_a):
    for n in range(3):
        factories.make_ticket(customer=customer_a, subject=f"Problem {n}")

    first = api(customer_a).get("/api/v1/tickets/?page_size=2").json()
    second = api(customer_a).get(first["next"]).json()

    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 3 and len(first["results"]) == 2
    assert first["previous"] is None and first["next"].endswith("page=2&page_size=2")
    assert second["next"] is None and len(second["results"]) == 1
    assert second["previous"] is not None


def test_a_page_past_the_end_is_404_json(api, customer_a, ticket_a):
    response = api(customer_a).get("/api/v1/tickets/?page=9")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_newest_activity_comes_first(api, customer_a, clock):
    older = factories.make_ticket(customer=customer_a, subject="older", now=T0)
    newer = factories.make_ticket(
        customer=customer_a, subject="newer", now=T0 + datetime.timedelta(minutes=5)
    )
    clock.shift(600)
    use_cases.ticket_reply(
        ticket_id=older.pk, author=customer_a, body="Any news?", channel="web", now=timezone.now()
    )

    results = api(customer_a).get("/api/v1/tickets/").json()["results"]

    assert [t["id"] for t in results] == [older.pk, newer.pk]


@pytest.fixture
def queue(structure, agent, other_agent, customer_a, customer_b):
    """Four tickets of the support queue in different states."""
    vps = factories.make_ticket(customer=customer_a, subject="VPS slow", category="vps")
    billing = factories.make_ticket(
        customer=customer_b, subject="Invoice wrong", category="billing"
    )
    mine = factories.make_ticket(customer=customer_b, subject="Disk full", category="dedicated")
    use_cases.ticket_assign(ticket_id=mine.pk, actor=agent, assignee_id=None, now=timezone.now())
    resolved = factories.make_ticket(
        customer=customer_a, subject="Reset password", category="access"
    )
    use_cases.ticket_resolve(
        ticket_id=resolved.pk, actor=agent, summary="Done.", now=timezone.now()
    )
    Clock.objects.filter(ticket=billing, metric="acknowledgement").update(
        breached_at=timezone.now()
    )
    return {"vps": vps, "billing": billing, "mine": mine, "resolved": resolved}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"vps", "billing", "mine", "resolved"}),
        ("status=resolved", {"resolved"}),
        ("status=open", {"mine"}),
        ("category=billing", {"billing"}),
        ("team=support", {"vps", "billing", "mine", "resolved"}),
        ("team=billing", set()),
        ("assignee=me", {"mine"}),
        ("assignee=none", {"vps", "billing", "resolved"}),
        ("breached=true", {"billing"}),
        ("breached=false", {"vps", "mine", "resolved"}),
        ("q=disk", {"mine"}),
        ("q=HD-", {"vps", "billing", "mine", "resolved"}),
        ("status=new&category=vps", {"vps"}),
    ],
)
def test_filters(api, agent, queue, query, expected):
    results = api(agent).get(f"/api/v1/tickets/?{query}").json()["results"]
    assert {t["id"] for t in results} == {queue[name].pk for name in expected}


def test_assignee_filter_by_id(api, agent, manager, queue):
    results = api(manager).get(f"/api/v1/tickets/?assignee={agent.pk}").json()["results"]
    assert [t["id"] for t in results] == [queue["mine"].pk]


def test_q_finds_a_reference(api, customer_a, queue):
    reference = queue["vps"].reference
    results = api(customer_a).get(f"/api/v1/tickets/?q={reference.lower()}").json()["results"]
    assert [t["reference"] for t in results] == [reference]


@pytest.mark.parametrize("role", ["agent", "manager", "customer_a"])
def test_a_page_costs_the_same_queries_for_10_or_100_tickets(
    request, api, agent, customer_a, customer_b, role, django_assert_num_queries
):
    client = api(request.getfixturevalue(role))

    def open_tickets(n: int):
        for i in range(n):
            ticket = factories.make_ticket(customer=customer_a, subject=f"Problem {i}")
            if i % 3 == 0:
                use_cases.ticket_assign(
                    ticket_id=ticket.pk, actor=agent, assignee_id=None, now=timezone.now()
                )
            if i % 4 == 0:
                Clock.objects.filter(ticket=ticket, metric="acknowledgement").update(
                    breached_at=timezone.now()
                )

    def page() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/tickets/?page_size=100")
        assert response.status_code == 200
        return len(queries), len(response.json()["results"])

    factories.make_ticket(customer=customer_b)  # another customer's: not every role sees it
    open_tickets(10)
    queries, rows_small = page()
    open_tickets(90)
    with django_assert_num_queries(queries):
        response = client.get("/api/v1/tickets/?page_size=100")

    assert rows_small in (10, 11)
    assert len(response.json()["results"]) == 100
    assert queries <= 6
