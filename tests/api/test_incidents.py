"""Incidents over the REST API: everyone signed in reads the public part; staff open, edit and
update them, write notes, link and unlink tickets, and ask for a credit. The use cases behind
them are tested in tests/incidents; here, what a client sees: the shapes, who may do what,
every refusal with its status and code and nothing changed, the ticket's `incident`, the
throttle, and queries constant in the size of the page."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalation.models import ApprovalRequest
from incidents.models import (
    Credit,
    Delivery,
    Incident,
    IncidentLink,
    IncidentNote,
    IncidentUpdate,
)
from sla.models import Clock
from tests import factories
from tickets.models import Message, Status, Ticket
from usecases import incidents as incident_use_cases

# Monday 11:00 in Rome.
MONDAY_10 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)
PUBLIC_KEYS = {
    "id",
    "title",
    "description",
    "status",
    "data_center",
    "service",
    "started_at",
    "resolved_at",
    "updates",
}
STAFF_KEYS = PUBLIC_KEYS | {"ticket_count", "lead", "categories"}
NOTE = "Internal: the switch vendor says a firmware bug; do not quote them."


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MONDAY_10, tick=False) as traveller:
        yield traveller


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def incident_opened(actor, **fields) -> Incident:
    fields = {"title": "Amsterdam: network down", "description": "Servers unreachable."} | fields
    return incident_use_cases.incident_open(actor=actor, now=MONDAY_10, **fields)


def linked(incident, actor, *tickets) -> None:
    incident_use_cases.tickets_link(
        incident_id=incident.pk, actor=actor, ticket_ids=[t.pk for t in tickets], now=MONDAY_10
    )


def post(api, user, path, payload=None):
    return api(user).post(f"/api/v1/{path}", payload if payload is not None else {}, format="json")


@pytest.fixture
def incident(agent):
    return incident_opened(agent, data_center="ams", categories=["datacenter"])


@pytest.fixture
def ticket_b(customer_b):
    return factories.make_ticket(customer=customer_b, subject="ams-22 unreachable")


@pytest.fixture
def unchanged():
    """Everything a refused write could have changed, to compare before and after."""

    def snapshot() -> tuple:
        models = (
            Incident,
            IncidentUpdate,
            IncidentNote,
            IncidentLink,
            Delivery,
            Credit,
            ApprovalRequest,
            Message,
        )
        return (
            {model.__name__: model.objects.count() for model in models},
            list(Incident.objects.order_by("pk").values()),
            list(IncidentLink.objects.order_by("pk").values("ticket_id", "incident_id")),
            list(Ticket.objects.order_by("pk").values("pk", "status")),
        )

    return snapshot


# --- Reading ------------------------------------------------------------------------------


def test_staff_read_an_incident_with_its_count_lead_and_categories(
    api, agent, incident, ticket_a, ticket_b
):
    linked(incident, agent, ticket_a, ticket_b)
    incident_use_cases.incident_update(
        incident_id=incident.pk, actor=agent, body="Found the switch.", status="identified",
        now=MONDAY_10 + datetime.timedelta(minutes=5),
    )  # fmt: skip
    update = IncidentUpdate.objects.get()

    body = api(agent).get(f"/api/v1/incidents/{incident.pk}/").json()

    assert body == {
        "id": incident.pk,
        "title": "Amsterdam: network down",
        "description": "Servers unreachable.",
        "status": "identified",
        "data_center": "ams",
        "service": None,
        "started_at": iso(MONDAY_10),
        "resolved_at": None,
        "updates": [
            {
                "id": update.pk,
                "status": "identified",
                "body": "Found the switch.",
                "created_at": iso(MONDAY_10 + datetime.timedelta(minutes=5)),
            }
        ],
        "ticket_count": 2,
        "lead": {"id": agent.pk, "name": agent.username},
        "categories": ["datacenter"],
    }


def test_a_customer_reads_the_public_part_only(
    api, agent, customer_a, incident, ticket_a, ticket_b
):
    linked(incident, agent, ticket_a, ticket_b)
    incident_use_cases.incident_note(incident_id=incident.pk, actor=agent, body=NOTE, now=MONDAY_10)
    client = api(customer_a)

    detail = client.get(f"/api/v1/incidents/{incident.pk}/")
    listed = client.get("/api/v1/incidents/")

    assert detail.status_code == listed.status_code == 200
    assert set(detail.json()) == PUBLIC_KEYS
    assert [set(i) for i in listed.json()["results"]] == [PUBLIC_KEYS]
    for response in (detail, listed):
        text = response.content.decode()
        # Neither the notes nor anything of the other customer's ticket, nor who leads it.
        assert "firmware" not in text
        assert ticket_b.reference not in text and "ams-22" not in text
        assert agent.username not in text


def test_notes_are_in_no_shape_even_for_staff(api, agent, incident):
    incident_use_cases.incident_note(incident_id=incident.pk, actor=agent, body=NOTE, now=MONDAY_10)
    assert "firmware" not in api(agent).get(f"/api/v1/incidents/{incident.pk}/").content.decode()


def test_the_list_is_newest_first_paginated_and_filters_open_ones(api, agent, customer_a, clock):
    old = incident_opened(agent, title="Old")
    clock.shift(datetime.timedelta(hours=1))
    incident_use_cases.incident_update(
        incident_id=old.pk, actor=agent, body="Fixed.", status="resolved", now=MONDAY_10
    )
    new = incident_opened(agent, title="New")
    Incident.objects.filter(pk=new.pk).update(started_at=MONDAY_10 + datetime.timedelta(hours=1))
    client = api(customer_a)

    every = client.get("/api/v1/incidents/?page_size=1").json()
    open_only = client.get("/api/v1/incidents/?open=true").json()
    all_again = client.get("/api/v1/incidents/?open=false").json()

    assert every["count"] == 2 and every["next"] and [i["id"] for i in every["results"]] == [new.pk]
    assert [i["id"] for i in open_only["results"]] == [new.pk]
    assert [i["id"] for i in all_again["results"]] == [new.pk, old.pk]
    assert all_again["results"][1]["resolved_at"] == iso(MONDAY_10)


@pytest.mark.parametrize("value", ["yes", "1", "TRUE", "open"])
def test_a_bad_value_of_open_is_a_400(api, customer_a, value):
    response = api(customer_a).get(f"/api/v1/incidents/?open={value}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "open" in response.json()["errors"]


def test_an_unknown_incident_is_a_404(api, customer_a, agent):
    for user in (customer_a, agent):
        for path in ("999999/", f"{10**18}/", f"{10**19}/"):
            response = api(user).get(f"/api/v1/incidents/{path}")
            assert response.status_code == 404, path
            assert response.json()["code"] == "not_found"


def test_anonymous_callers_get_401_on_reads_and_writes(api, incident, unchanged):
    before = unchanged()
    client = api()
    assert client.get("/api/v1/incidents/").status_code == 401
    assert client.get(f"/api/v1/incidents/{incident.pk}/").status_code == 401
    assert client.post("/api/v1/incidents/", {"title": "x"}, format="json").status_code == 401
    response = client.post(f"/api/v1/incidents/{incident.pk}/updates/", {"body": "x"})
    assert response.status_code == 401
    assert unchanged() == before


# --- Customers write nothing --------------------------------------------------------------


def writes(incident, ticket) -> list[tuple[str, str, dict]]:
    """Every write, valid for staff; a customer gets 403 on each, whatever the id or body."""
    base = f"/api/v1/incidents/{incident.pk}"
    return [
        ("post", "/api/v1/incidents/", {"title": "Mine", "description": "x"}),
        ("patch", f"{base}/", {"title": "Renamed"}),
        ("post", f"{base}/updates/", {"body": "All good", "status": "resolved"}),
        ("post", f"{base}/notes/", {"body": "note"}),
        ("get", f"{base}/notes/", {}),
        ("post", f"{base}/tickets/", {"tickets": [ticket.pk]}),
        ("delete", f"{base}/tickets/{ticket.pk}/", {}),
        ("post", f"{base}/credits/", {"reason": "Down", "amount": "10.00"}),
        ("post", "/api/v1/incidents/999999/updates/", {"body": "x"}),
        ("post", f"{base}/updates/", {"body": ["not", "text"]}),
    ]


def test_customers_get_403_on_every_write_and_nothing_changes(
    api, agent, customer_a, incident, ticket_a, unchanged
):
    linked(incident, agent, ticket_a)
    before = unchanged()
    client = api(customer_a)

    for method, path, payload in writes(incident, ticket_a):
        response = getattr(client, method)(path, payload, format="json")
        assert response.status_code == 403, (method, path)
        assert response.json()["code"] == "permission_denied"

    assert unchanged() == before


# --- Open and edit ------------------------------------------------------------------------


def test_staff_open_an_incident(api, agent):
    payload = {
        "title": "Mail platform slow",
        "description": "Sending is delayed by up to 20 minutes.",
        "service": "Mail",
        "categories": ["network", "network"],
    }

    response = post(api, agent, "incidents/", payload)

    assert response.status_code == 201
    incident = Incident.objects.get()
    assert response.json() == {
        "id": incident.pk,
        "title": "Mail platform slow",
        "description": "Sending is delayed by up to 20 minutes.",
        "status": "investigating",
        "data_center": None,
        "service": "Mail",
        "started_at": iso(MONDAY_10),
        "resolved_at": None,
        "updates": [],
        "ticket_count": 0,
        "lead": {"id": agent.pk, "name": agent.username},
        "categories": ["network"],
    }
    assert (incident.created_by, incident.data_center) == (agent, "")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"description": "x"}, "title"),
        ({"title": "  ", "description": "x"}, "title"),
        ({"title": "x", "description": ""}, "description"),
        ({"title": "x" * 201, "description": "x"}, "title"),
        ({"title": {"a": 1}, "description": "x"}, "title"),
        ({"title": "x", "description": "x", "data_center": "nowhere"}, "data_center"),
        ({"title": "x", "description": "x", "data_center": 5}, "data_center"),
        ({"title": "x", "description": "x", "categories": ["weather"]}, "categories.0"),
        ({"title": "x", "description": "x", "categories": "email"}, "categories"),
        ({"title": "x", "description": "x", "service": "s" * 101}, "service"),
    ],
)
def test_opening_refuses_bad_input_and_opens_nothing(api, manager, payload, field, unchanged):
    before = unchanged()

    response = post(api, manager, "incidents/", payload)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert unchanged() == before


def test_a_body_that_is_not_a_json_object_is_a_400(api, agent, incident, unchanged):
    before = unchanged()
    client = api(agent)
    for path in ("incidents/", f"incidents/{incident.pk}/updates/"):
        response = client.post(f"/api/v1/{path}", ["title"], format="json")
        assert response.status_code == 400, path
        garbled = client.post(f"/api/v1/{path}", "{not json", content_type="application/json")
        assert garbled.status_code == 400, path
    assert unchanged() == before


def test_patch_changes_only_what_it_is_given(api, agent, manager, incident):
    response = api(agent).patch(
        f"/api/v1/incidents/{incident.pk}/",
        {"title": "Amsterdam: one rack down", "lead": manager.pk},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["lead"]["id"]) == ("Amsterdam: one rack down", manager.pk)
    assert (body["description"], body["data_center"], body["categories"]) == (
        "Servers unreachable.",
        "ams",
        ["datacenter"],
    )
    assert body["status"] == "investigating"


def test_patch_can_clear_the_site_and_the_categories(api, agent, incident):
    response = api(agent).patch(
        f"/api/v1/incidents/{incident.pk}/",
        {"data_center": "", "categories": [], "service": "Network"},
        format="json",
    )
    body = response.json()
    assert (body["data_center"], body["categories"], body["service"]) == (None, [], "Network")


@pytest.mark.parametrize(
    "payload",
    [
        {"title": ""},
        {"lead": "customer"},
        {"lead": True},
        {"lead": 999999},
        {"data_center": "atlantis"},
        {"categories": ["x"]},
    ],
)
def test_patch_refuses_bad_input_and_changes_nothing(
    api, agent, customer_a, incident, payload, unchanged
):
    if payload.get("lead") == "customer":
        payload = {"lead": customer_a.pk}  # a customer cannot lead an incident
    before = unchanged()

    response = api(agent).patch(f"/api/v1/incidents/{incident.pk}/", payload, format="json")

    assert response.status_code == 400
    assert unchanged() == before


def test_put_is_not_offered(api, agent, incident):
    response = api(agent).put(
        f"/api/v1/incidents/{incident.pk}/", {"title": "x", "description": "y"}, format="json"
    )
    assert response.status_code == 405


# --- Public updates -----------------------------------------------------------------------


def test_an_update_reaches_every_linked_thread_in_each_language(
    api, agent, incident, customer_a, clock
):
    italian = factories.make_customer(username="chiara", language="it")
    ticket_a = factories.make_ticket(customer=customer_a)
    ticket_it = factories.make_ticket(customer=italian)
    linked(incident, agent, ticket_a, ticket_it)
    clock.shift(datetime.timedelta(minutes=7))

    response = post(
        api,
        agent,
        f"incidents/{incident.pk}/updates/",
        {"body": "A failed switch; replacing it.", "status": "identified"},
    )

    assert response.status_code == 201
    update = IncidentUpdate.objects.get()
    assert response.json() == {
        "id": update.pk,
        "status": "identified",
        "body": "A failed switch; replacing it.",
        "created_at": iso(MONDAY_10 + datetime.timedelta(minutes=7)),
    }
    assert Incident.objects.get().status == "identified"
    assert set(Delivery.objects.values_list("ticket_id", flat=True)) == {ticket_a.pk, ticket_it.pk}

    incident_use_cases.fanout_batch(now=MONDAY_10 + datetime.timedelta(minutes=7))

    for customer, ticket in ((customer_a, ticket_a), (italian, ticket_it)):
        thread = api(customer).get(f"/api/v1/tickets/{ticket.pk}/messages/").json()["results"]
        assert thread[-1]["kind"] == "system"
        assert "A failed switch; replacing it." in thread[-1]["body"]
        status_update = Clock.objects.filter(ticket=ticket, metric="status_update")
        assert status_update.filter(met_at__isnull=False).exists()


def test_without_a_status_an_update_keeps_the_current_one(api, agent, incident):
    response = post(api, agent, f"incidents/{incident.pk}/updates/", {"body": "Still on it."})
    assert response.status_code == 201
    assert response.json()["status"] == "investigating"


def test_resolving_resolves_the_linked_tickets_and_reopening_needs_reopen(
    api, agent, customer_a, incident, ticket_a, clock, unchanged
):
    linked(incident, agent, ticket_a)
    path = f"incidents/{incident.pk}/updates/"
    resolved = post(api, agent, path, {"body": "Back to normal.", "status": "resolved"})
    incident_use_cases.fanout_batch(now=MONDAY_10)
    assert resolved.status_code == 201
    assert Ticket.objects.get(pk=ticket_a.pk).status == Status.RESOLVED
    body = api(customer_a).get(f"/api/v1/incidents/{incident.pk}/").json()
    assert (body["status"], body["resolved_at"]) == ("resolved", iso(MONDAY_10))
    before = unchanged()

    backwards = post(api, agent, path, {"body": "It is down again.", "status": "monitoring"})
    twice = post(api, agent, path, {"body": "Resolved again.", "status": "resolved"})
    no_status = post(api, agent, path, {"body": "Hmm.", "reopen": False})

    for refused in (backwards, twice, no_status):
        assert refused.status_code == 409
        assert refused.json()["code"] == "resolved"
    assert unchanged() == before

    clock.shift(datetime.timedelta(hours=1))
    reopened = post(api, agent, path, {"body": "Down again.", "reopen": True})
    assert reopened.status_code == 201
    assert reopened.json()["status"] == "investigating"
    incident_now = Incident.objects.get()
    assert (incident_now.status, incident_now.resolved_at) == ("investigating", None)


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"body": "x", "status": "exploded"}, "status", "unknown_status"),
        ({"body": "x", "status": "RESOLVED"}, "status", "unknown_status"),
        ({"body": "", "status": "identified"}, "body", "invalid"),
        ({"body": "   "}, "body", "invalid"),
        ({"status": "identified"}, "body", "invalid"),
        ({"body": {"text": "x"}}, "body", "invalid"),
        ({"body": "x", "status": ["identified"]}, "status", "invalid"),
        ({"body": "x", "reopen": "perhaps"}, "reopen", "invalid"),
        ({"body": "x" * 50_001}, "body", "invalid"),
    ],
)
def test_an_update_refuses_bad_input_and_changes_nothing(
    api, agent, incident, ticket_a, payload, field, code, unchanged
):
    linked(incident, agent, ticket_a)
    before = unchanged()

    response = post(api, agent, f"incidents/{incident.pk}/updates/", payload)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert field in response.json()["errors"]
    assert unchanged() == before


def test_an_update_of_an_unknown_incident_is_a_404(api, agent, unchanged):
    before = unchanged()
    response = post(api, agent, "incidents/999999/updates/", {"body": "x"})
    assert response.status_code == 404
    assert unchanged() == before


# --- Notes --------------------------------------------------------------------------------


def test_staff_write_and_read_internal_notes(api, agent, manager, incident):
    written = post(api, agent, f"incidents/{incident.pk}/notes/", {"body": NOTE})

    assert written.status_code == 201
    note = IncidentNote.objects.get()
    assert written.json() == {
        "id": note.pk,
        "body": NOTE,
        "author": {"id": agent.pk, "name": agent.username},
        "created_at": iso(MONDAY_10),
    }
    listed = api(manager).get(f"/api/v1/incidents/{incident.pk}/notes/").json()
    assert [n["id"] for n in listed["results"]] == [note.pk]
    assert api(agent).get("/api/v1/incidents/999999/notes/").status_code == 404


def test_an_empty_note_is_a_400(api, agent, incident, unchanged):
    before = unchanged()
    response = post(api, agent, f"incidents/{incident.pk}/notes/", {"body": " "})
    assert (response.status_code, list(response.json()["errors"])) == (400, ["body"])
    assert unchanged() == before


# --- Linking ------------------------------------------------------------------------------


def test_staff_link_tickets_and_each_ticket_names_its_incident(
    api, agent, customer_a, incident, ticket_a, ticket_b
):
    response = post(
        api, agent, f"incidents/{incident.pk}/tickets/", {"tickets": [ticket_b.pk, ticket_a.pk]}
    )
    again = post(api, agent, f"incidents/{incident.pk}/tickets/", {"tickets": [ticket_a.pk]})

    assert response.status_code == 200
    assert response.json() == {"linked": sorted([ticket_a.pk, ticket_b.pk]), "ticket_count": 2}
    assert again.json() == {"linked": [], "ticket_count": 2}
    assert api(customer_a).get(f"/api/v1/tickets/{ticket_a.pk}/").json()["incident"] == incident.pk
    listed = api(agent).get("/api/v1/tickets/").json()["results"]
    assert {t["id"]: t["incident"] for t in listed} == {
        ticket_a.pk: incident.pk,
        ticket_b.pk: incident.pk,
    }


def test_a_ticket_without_an_incident_says_null(api, customer_a, ticket_a):
    assert api(customer_a).get(f"/api/v1/tickets/{ticket_a.pk}/").json()["incident"] is None


def test_linking_moves_a_ticket_from_another_incident(api, agent, incident, ticket_a):
    other = incident_opened(agent, title="Another")
    linked(other, agent, ticket_a)

    post(api, agent, f"incidents/{incident.pk}/tickets/", {"tickets": [ticket_a.pk]})

    assert IncidentLink.objects.get(ticket=ticket_a).incident_id == incident.pk


def test_linking_an_unknown_or_invisible_ticket_links_none(
    api, agent, customer_a, structure, incident, ticket_a, unchanged
):
    elsewhere = factories.make_ticket(customer=customer_a, subject="An invoice")
    Ticket.objects.filter(pk=elsewhere.pk).update(team=structure["billing"])  # not agent's team
    before = unchanged()
    path = f"incidents/{incident.pk}/tickets/"

    unknown = post(api, agent, path, {"tickets": [ticket_a.pk, 999999]})
    invisible = post(api, agent, path, {"tickets": [elsewhere.pk, ticket_a.pk]})

    for response, named in ((unknown, "999999"), (invisible, str(elsewhere.pk))):
        assert response.status_code == 400
        assert response.json()["code"] == "unknown_ticket"
        assert named in response.json()["detail"]
        assert str(ticket_a.pk) not in response.json()["detail"].split(":")[1]
        assert list(response.json()["errors"]) == ["tickets"]
    assert unchanged() == before


@pytest.mark.parametrize(
    "tickets",
    [[], "1,2", [True], [1.5], ["a"], [0], [-3], [2**63], None, [[1]], list(range(1, 1002))],
)
def test_linking_refuses_bad_ids_and_links_none(api, agent, incident, tickets, unchanged):
    before = unchanged()
    response = post(api, agent, f"incidents/{incident.pk}/tickets/", {"tickets": tickets})
    assert response.status_code == 400
    assert unchanged() == before


def test_linking_to_an_unknown_incident_is_a_404(api, agent, ticket_a, unchanged):
    before = unchanged()
    response = post(api, agent, "incidents/999999/tickets/", {"tickets": [ticket_a.pk]})
    assert response.status_code == 404
    assert unchanged() == before


def test_unlinking_lets_the_ticket_continue_alone(api, agent, customer_a, incident, ticket_a):
    linked(incident, agent, ticket_a)
    path = f"/api/v1/incidents/{incident.pk}/tickets/{ticket_a.pk}/"

    response = api(agent).delete(path)
    again = api(agent).delete(path)

    assert response.status_code == 204
    assert not IncidentLink.objects.exists()
    assert api(customer_a).get(f"/api/v1/tickets/{ticket_a.pk}/").json()["incident"] is None
    assert again.status_code == 404


def test_unlinking_what_is_not_linked_here_is_a_404(
    api, agent, incident, ticket_a, ticket_b, unchanged
):
    other = incident_opened(agent, title="Another")
    linked(other, agent, ticket_a)
    before = unchanged()
    client = api(agent)

    for path in (
        f"{incident.pk}/tickets/{ticket_a.pk}/",  # linked to another incident
        f"{incident.pk}/tickets/{ticket_b.pk}/",  # linked to none
        f"{incident.pk}/tickets/999999/",
        f"999999/tickets/{ticket_a.pk}/",
    ):
        response = client.delete(f"/api/v1/incidents/{path}")
        assert response.status_code == 404, path
    assert unchanged() == before


# --- Credits ------------------------------------------------------------------------------


def test_a_fixed_credit_is_one_approval_for_every_customer(
    api, agent, manager, customer_a, incident, ticket_a, ticket_b
):
    second_of_a = factories.make_ticket(customer=customer_a, subject="Still down")
    linked(incident, agent, ticket_a, ticket_b, second_of_a)

    response = post(
        api,
        agent,
        f"incidents/{incident.pk}/credits/",
        {"reason": "Down 3 hours on 2 March", "amount": "25.00"},
    )

    assert response.status_code == 201
    approval = ApprovalRequest.objects.get()
    body = response.json()
    assert (body["id"], body["incident"], body["ticket"]) == (approval.pk, incident.pk, None)
    assert (body["kind"], body["amount"], body["currency"], body["state"]) == (
        "billing_credit",
        "50.00",  # one credit per customer, not per ticket
        "EUR",
        "pending",
    )
    credit = Credit.objects.get()
    assert (credit.incident_id, credit.rule) == (incident.pk, "fixed")
    queue = api(manager).get("/api/v1/approvals/?state=pending").json()["results"]
    assert [(a["id"], a["incident"]) for a in queue] == [(approval.pk, incident.pk)]


def test_a_manager_asks_for_a_share_of_the_monthly_fee(
    api, agent, manager, customer_a, customer_b, incident, ticket_a, ticket_b
):
    linked(incident, agent, ticket_a, ticket_b)

    response = post(
        api,
        manager,
        f"incidents/{incident.pk}/credits/",
        {
            "reason": "Down 3 hours",
            "share_percent": 10,
            "fees": {str(customer_a.pk): "19.90", str(customer_b.pk): 100},
            "currency": "usd",
        },
    )

    assert response.status_code == 201
    assert (response.json()["amount"], response.json()["currency"]) == ("11.99", "USD")
    assert Credit.objects.get().rule == "share"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"amount": "25.00"}, "reason"),
        ({"reason": " ", "amount": "25.00"}, "reason"),
        ({"reason": "Down"}, "amount"),
        ({"reason": "Down", "amount": "25", "share_percent": "10"}, "amount"),
        ({"reason": "Down", "amount": "-5"}, "amount"),
        ({"reason": "Down", "amount": "2.555"}, "amount"),
        ({"reason": "Down", "amount": "lots"}, "amount"),
        ({"reason": "Down", "amount": True}, "amount"),
        ({"reason": "Down", "share_percent": "150", "fees": {}}, "share_percent"),
        ({"reason": "Down", "share_percent": "10"}, "fees"),
        ({"reason": "Down", "share_percent": "10", "fees": {"1": "10"}}, "fees"),
        ({"reason": "Down", "share_percent": "10", "fees": ["10"]}, "fees"),
        ({"reason": "Down", "amount": "25", "currency": "EURO"}, "currency"),
    ],
)
def test_a_credit_refuses_bad_input_and_asks_nothing(
    api, agent, incident, ticket_a, payload, field, unchanged
):
    linked(incident, agent, ticket_a)
    before = unchanged()

    response = post(api, agent, f"incidents/{incident.pk}/credits/", payload)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert unchanged() == before


def test_a_credit_needs_linked_tickets(api, agent, incident, unchanged):
    before = unchanged()
    response = post(
        api, agent, f"incidents/{incident.pk}/credits/", {"reason": "Down", "amount": "5"}
    )
    assert (response.status_code, response.json()["code"]) == (400, "no_tickets")
    assert unchanged() == before


# --- Throttle -----------------------------------------------------------------------------


def test_incident_writes_have_their_own_door(api, settings, agent, customer_a, incident):
    settings.DOOR_LIMITS = {**settings.DOOR_LIMITS, "incident_write": {"account": "2/h"}}
    path = f"incidents/{incident.pk}/updates/"

    # Refused requests count too: a script that retries bad input is stopped all the same.
    statuses = [post(api, agent, path, {"body": ""}).status_code for _ in range(2)]
    third = api(agent).patch(f"/api/v1/incidents/{incident.pk}/", {}, format="json")
    reads = api(agent).get(f"/api/v1/incidents/{incident.pk}/notes/")
    customers = [post(api, customer_a, path, {"body": "x"}).status_code for _ in range(3)]

    assert statuses == [400, 400]
    assert third.status_code == 429
    assert third.json()["code"] == "throttled"
    assert int(third["Retry-After"]) > 0
    assert reads.status_code == 200
    assert customers == [403, 403, 403]  # refused before the door: not counted


def test_the_default_rate_is_generous_for_an_outage(settings):
    count, period = settings.DOOR_LIMITS["incident_write"]["account"].split("/")
    assert period == "h" and int(count) >= 300


# --- Queries constant in the size of the page ---------------------------------------------


def incidents_made(n: int, *, agent, customer, clock) -> None:
    """n incidents, each with two updates, a note and a linked ticket."""
    for i in range(n):
        incident = incident_opened(agent, title=f"Outage {i}", categories=["vps"])
        ticket = factories.make_ticket(customer=customer, subject=f"Down {i}")
        linked(incident, agent, ticket)
        for status in ("identified", "monitoring"):
            incident_use_cases.incident_update(
                incident_id=incident.pk, actor=agent, body=status, status=status, now=MONDAY_10
            )
        incident_use_cases.incident_note(
            incident_id=incident.pk, actor=agent, body=NOTE, now=MONDAY_10
        )
        clock.shift(datetime.timedelta(minutes=1))


@pytest.mark.parametrize("role", ["agent", "customer_a"])
def test_a_page_of_incidents_costs_the_same_queries_for_2_or_20(
    request, api, agent, customer_a, role, clock, django_assert_num_queries
):
    client = api(request.getfixturevalue(role))
    incidents_made(2, agent=agent, customer=customer_a, clock=clock)
    with CaptureQueriesContext(connection) as few:
        small = client.get("/api/v1/incidents/?page_size=100").json()["results"]
    incidents_made(18, agent=agent, customer=customer_a, clock=clock)

    with django_assert_num_queries(len(few)):
        large = client.get("/api/v1/incidents/?page_size=100").json()["results"]

    assert (len(small), len(large)) == (2, 20)
    assert all(len(i["updates"]) == 2 for i in large)
    if role == "agent":
        assert all(i["ticket_count"] == 1 for i in large)
    assert len(few) <= 6


def test_a_page_of_linked_tickets_costs_the_same_queries(
    api, agent, customer_a, incident, django_assert_num_queries
):
    client = api(agent)
    few_tickets = [factories.make_ticket(customer=customer_a) for _ in range(2)]
    linked(incident, agent, *few_tickets)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/tickets/?page_size=100")
    many = [factories.make_ticket(customer=customer_a) for _ in range(18)]
    linked(incident, agent, *many[::2])

    with django_assert_num_queries(len(few)):
        results = client.get("/api/v1/tickets/?page_size=100").json()["results"]

    assert sum(1 for t in results if t["incident"] == incident.pk) == 11
    assert sum(1 for t in results if t["incident"] is None) == 9


# --- The schema ---------------------------------------------------------------------------


def test_the_schema_documents_every_incident_endpoint(api, agent):
    schema = api(agent).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    expected = {
        ("/api/v1/incidents/", "get"): {"200", "400", "401", "404"},
        ("/api/v1/incidents/", "post"): {"201", "400", "401", "403", "429"},
        ("/api/v1/incidents/{id}/", "get"): {"200", "401", "404"},
        ("/api/v1/incidents/{id}/", "patch"): {"200", "400", "401", "403", "404", "429"},
        ("/api/v1/incidents/{id}/updates/", "post"): {
            "201", "400", "401", "403", "404", "409", "429",
        },
        ("/api/v1/incidents/{id}/notes/", "post"): {"201", "400", "401", "403", "404", "429"},
        ("/api/v1/incidents/{id}/tickets/", "post"): {"200", "400", "401", "403", "404", "429"},
        ("/api/v1/incidents/{id}/tickets/{ticket_id}/", "delete"): {
            "204", "401", "403", "404", "429",
        },
        ("/api/v1/incidents/{id}/credits/", "post"): {"201", "400", "401", "403", "404", "429"},
    }  # fmt: skip
    for (path, method), statuses in expected.items():
        assert set(paths[path][method]["responses"]) == statuses, (path, method)
    components = schema["components"]["schemas"]
    incident = components["Incident"]
    assert set(incident["properties"]) == STAFF_KEYS
    assert set(incident["required"]) == PUBLIC_KEYS  # staff's fields: customers never get them
    assert "incident" in components["Ticket"]["properties"]
