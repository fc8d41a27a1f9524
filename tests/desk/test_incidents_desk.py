"""Incidents in the agents' desk: the list (open first, constant queries), the incident page and
its forms through the use cases (bad input changes nothing), unlinking, the credit request;
bulk linking from the queue (all or nothing); the surge banner and opening an incident from it;
the surge policy; an incident's credit in the management queue; incidents in the managers'
dashboard."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalation.models import ApprovalRequest
from incidents.models import (
    Credit,
    Delivery,
    Incident,
    IncidentLink,
    IncidentNote,
    IncidentUpdate,
    Status,
    Surge,
    SurgePolicy,
)
from incidents.selectors import incident_figures
from tests.desk.conftest import T0, changelist_url, flashed, login, staff
from tests.factories import make_agent, make_customer, make_ticket
from tickets.models import Message
from usecases.escalation import approval_decide
from usecases.incidents import (
    credit_request,
    fanout_batch,
    incident_follow,
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


# --- The forms of the incident page --------------------------------------------------------------


def test_posting_a_public_update_goes_through_the_use_case(client, giulia, linked, outage):
    login(client, giulia)

    response = client.post(
        form_url(outage, "update"),
        {"body": "A switch failed; replacing it.", "status": "identified"},
    )

    assert response.status_code == 302
    assert response["Location"] == page_url(outage)
    outage.refresh_from_db()
    assert outage.status == Status.IDENTIFIED
    update = IncidentUpdate.objects.get(incident=outage)
    assert update.author == giulia
    # One delivery per linked ticket: the use case's outbox of the fan-out.
    assert Delivery.objects.filter(update=update).count() == 2
    html = client.get(page_url(outage)).content.decode()
    assert "A switch failed; replacing it." in html
    assert "No public update yet" not in html


def test_updates_are_shown_newest_first(client, giulia, outage):
    for minute, body in ((1, "First words."), (2, "Second words.")):
        incident_update(
            incident_id=outage.pk,
            actor=giulia,
            body=body,
            now=T0 + datetime.timedelta(minutes=minute),
        )
    login(client, giulia)
    html = client.get(page_url(outage)).content.decode()
    assert html.index("Second words.") < html.index("First words.")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"body": "   ", "status": "identified"}, "This field is required."),
        ({"body": "Hi", "status": "fixed"}, "Select a valid choice."),
    ],
)
def test_a_bad_update_shows_errors_and_changes_nothing(client, giulia, linked, outage, data, error):
    login(client, giulia)
    before = snapshot(outage)

    response = client.post(form_url(outage, "update"), data)

    assert response.status_code == 400
    assert error in response.content.decode()
    assert snapshot(outage) == before
    assert Delivery.objects.count() == 0


def test_a_resolved_incident_changes_status_only_when_reopened(client, giulia, linked, outage):
    incident_update(
        incident_id=outage.pk, actor=giulia, body="Fixed.", status=Status.RESOLVED, now=T0
    )
    login(client, giulia)
    before = snapshot(outage)

    refused = client.post(
        form_url(outage, "update"), {"body": "Back again.", "status": "investigating"}
    )

    assert refused.status_code == 409
    assert "This incident is resolved: reopen it to change its status." in refused.content.decode()
    assert snapshot(outage) == before

    reopened = client.post(
        form_url(outage, "update"),
        {"body": "Back again.", "status": "investigating", "reopen": "on"},
    )
    assert reopened.status_code == 302
    outage.refresh_from_db()
    assert outage.status == Status.INVESTIGATING
    assert outage.resolved_at is None


def test_the_reopen_box_is_offered_only_for_a_resolved_incident(client, giulia, outage):
    login(client, giulia)
    assert 'name="reopen"' not in client.get(page_url(outage)).content.decode()
    incident_update(
        incident_id=outage.pk, actor=giulia, body="Fixed.", status=Status.RESOLVED, now=T0
    )
    assert 'name="reopen"' in client.get(page_url(outage)).content.decode()


def test_an_internal_note_goes_through_the_use_case(client, giulia, outage):
    login(client, giulia)

    response = client.post(form_url(outage, "note"), {"body": "Call the AMS NOC: +31 20 ..."})

    assert response.status_code == 302
    note = IncidentNote.objects.get(incident=outage)
    assert (note.author, note.body) == (giulia, "Call the AMS NOC: +31 20 ...")
    html = client.get(page_url(outage)).content.decode()
    assert "Call the AMS NOC" in html

    before = snapshot(outage)
    empty = client.post(form_url(outage, "note"), {"body": ""})
    assert empty.status_code == 400
    assert snapshot(outage) == before


def test_editing_goes_through_the_use_case(client, giulia, marta, outage):
    login(client, giulia)

    response = client.post(
        form_url(outage, "edit"),
        {
            "title": "Network outage in AMS (core switch)",
            "description": "Servers in AMS do not answer; a core switch failed.",
            "data_center": "ams",
            "service": "Network",
            "categories": ["dedicated", "vps"],
            "lead": marta.pk,
        },
    )

    assert response.status_code == 302
    outage.refresh_from_db()
    assert outage.title == "Network outage in AMS (core switch)"
    assert outage.service == "Network"
    assert outage.categories == ["dedicated", "vps"]
    assert outage.lead == marta
    assert outage.status == Status.INVESTIGATING


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"data_center": "xyz"}, "data_center"),
        ({"categories": ["nonsense"]}, "categories"),
        ({"lead": "carla"}, "lead"),
    ],
)
def test_a_bad_edit_shows_errors_and_changes_nothing(client, giulia, carla, outage, change, field):
    login(client, giulia)
    before = snapshot(outage)
    data = {
        "title": "New title",
        "description": "New words.",
        "data_center": "ams",
        "service": "",
        "lead": giulia.pk,
        **change,
    }
    if data["lead"] == "carla":
        data["lead"] = carla.pk

    response = client.post(form_url(outage, "edit"), data)

    assert response.status_code == 400
    assert response.context["forms"]["edit"].errors.get(field)
    assert snapshot(outage) == before


def test_unlinking_a_ticket_lets_it_continue_alone(client, giulia, linked, outage):
    first, second = linked
    login(client, giulia)

    response = client.post(reverse("admin:incidents_incident_unlink", args=[outage.pk, first.pk]))

    assert response.status_code == 302
    assert snapshot(outage)["links"] == [second.pk]
    assert (
        client.post(
            reverse("admin:incidents_incident_unlink", args=[outage.pk, first.pk])
        ).status_code
        == 404
    )
    assert (
        client.get(
            reverse("admin:incidents_incident_unlink", args=[outage.pk, second.pk])
        ).status_code
        == 405
    )
    assert snapshot(outage)["links"] == [second.pk]


# --- Opening an incident -------------------------------------------------------------------------


def test_opening_an_incident_goes_through_the_use_case(client, giulia, clock):
    login(client, giulia)

    response = client.post(
        reverse(ADD),
        {
            "title": "Panel unreachable",
            "description": "The control panel does not load.",
            "data_center": "",
            "service": "Control panel",
            "categories": ["access"],
        },
    )

    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == page_url(incident)
    assert (incident.title, incident.service, incident.categories) == (
        "Panel unreachable",
        "Control panel",
        ["access"],
    )
    assert incident.created_by == incident.lead == giulia
    assert incident.started_at == T0


def test_a_bad_new_incident_shows_errors_and_creates_nothing(client, giulia):
    login(client, giulia)
    response = client.post(
        reverse(ADD), {"title": "  ", "description": "x", "data_center": "nowhere"}
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"title", "data_center"}
    assert not Incident.objects.exists()


# --- Surges ---------------------------------------------------------------------------------------


@pytest.fixture
def surge(teams, clock):
    return Surge.objects.create(site="ams", started_at=T0, peak_count=7)


def test_no_banner_without_an_open_surge(client, giulia, teams):
    Surge.objects.create(
        site="mia", started_at=T0, ended_at=T0 + datetime.timedelta(minutes=20), peak_count=6
    )
    login(client, giulia)
    for url in (reverse("admin:index"), changelist_url()):
        html = client.get(url).content.decode()
        assert "hd-notice--surge" not in html
        assert "Surge at" not in html


def test_an_open_surge_is_a_banner_in_the_desk_with_a_way_to_open_an_incident(
    client, giulia, surge
):
    login(client, giulia)
    link = f"{reverse(ADD)}?data_center=ams&amp;surge={surge.pk}"
    for url in (reverse("admin:index"), changelist_url()):
        html = client.get(url).content.decode()
        assert "Surge at AMS: 7 new requests in a few minutes" in html
        assert link in html


def test_an_incident_opened_from_a_surge_answers_it(client, giulia, surge):
    login(client, giulia)

    form = client.get(reverse(ADD), {"data_center": "ams", "surge": surge.pk})

    assert form.status_code == 200
    assert form.context["form"]["data_center"].value() == "ams"
    assert form.context["surge"] == surge
    assert "Opening this incident answers the surge" in form.content.decode()

    response = client.post(
        reverse(ADD),
        {
            "title": "Network trouble in AMS",
            "description": "We are looking.",
            "data_center": "ams",
            "surge": surge.pk,
        },
    )

    assert response.status_code == 302
    incident = Incident.objects.get()
    surge.refresh_from_db()
    assert surge.incident == incident
    assert surge.ended_at == T0
    assert "Surge at" not in client.get(reverse("admin:index")).content.decode()


def test_admins_edit_the_surge_policy_and_agents_read_it(client, giulia, teams):
    admin_user = make_agent(username="root", superuser=True)
    login(client, giulia)
    url = reverse("admin:incidents_surgepolicy_change", args=[1])
    assert client.get(reverse("admin:incidents_surgepolicy_changelist"))["Location"] == url
    assert client.get(url).status_code == 200
    assert client.post(url, {"enabled": "on", "requests": 9, "minutes": 5}).status_code == 403
    assert SurgePolicy.objects.get().requests == 5

    login(client, admin_user)
    bad = client.post(url, {"enabled": "on", "requests": 1, "minutes": 5})
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors
    assert SurgePolicy.objects.get().requests == 5
    saved = client.post(url, {"enabled": "on", "requests": 9, "minutes": 5})
    assert saved.status_code == 302
    assert (SurgePolicy.objects.get().requests, SurgePolicy.objects.get().minutes) == (9, 5)


# --- Linking from the queue ------------------------------------------------------------------------


def run_link(client, tickets, **data):
    return client.post(
        changelist_url(queue="all"),
        {
            "action": "link_to_incident",
            "_selected_action": [getattr(t, "pk", t) for t in tickets],
            **data,
        },
    )


@pytest.fixture
def waiting(giulia, carla, dario, clock):
    """Two tickets of the queue no incident covers yet."""
    return [
        make_ticket(customer=carla, subject="Site down", data_center="mia"),
        make_ticket(customer=dario, subject="Sito giù", data_center="mia"),
    ]


def test_bulk_linking_asks_for_the_incident_then_links_them_all(client, giulia, outage, waiting):
    login(client, giulia)

    page = run_link(client, waiting)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Network outage in Amsterdam" in html
    assert "Site down" in html and "Sito giù" in html

    done = run_link(client, waiting, apply="1", incident=outage.pk)

    assert done.status_code == 302
    assert done["Location"] == page_url(outage)
    assert snapshot(outage)["links"] == sorted(t.pk for t in waiting)
    assert ("success", "2 tickets linked: they receive every public update of the incident.") in (
        flashed(done)
    )
    listing = client.get(changelist_url(queue="all", incident=outage.pk))
    assert {t.pk for t in listing.context["cl"].result_list} == {t.pk for t in waiting}
    assert (
        "Network outage in Amsterdam"
        in client.get(reverse("admin:tickets_ticket_change", args=[waiting[0].pk])).content.decode()
    )


def test_bulk_linking_is_all_or_nothing(client, giulia, outage, waiting, teams):
    elsewhere = make_ticket(customer=make_customer(), subject="Invoice", category="billing")
    elsewhere.team = teams["billing"]
    elsewhere.save(update_fields=["team"])
    login(client, giulia)

    page = run_link(client, [*waiting, elsewhere])
    assert f"Ticket {elsewhere.pk} is no longer in your queue" in page.content.decode()

    refused = run_link(client, [*waiting, elsewhere], apply="1", incident=outage.pk)

    assert refused.status_code == 302
    assert (
        "error",
        f"No such ticket: {elsewhere.pk}. Nothing was linked.",
    ) in flashed(refused)
    assert snapshot(outage)["links"] == []

    unknown = run_link(client, [*waiting, 999999], apply="1", incident=outage.pk)
    assert ("error", "No such ticket: 999999. Nothing was linked.") in flashed(unknown)
    assert snapshot(outage)["links"] == []


def test_bulk_linking_to_a_resolved_incident_is_refused(client, giulia, outage, waiting):
    incident_update(
        incident_id=outage.pk, actor=giulia, body="Fixed.", status=Status.RESOLVED, now=T0
    )
    login(client, giulia)

    response = run_link(client, waiting, apply="1", incident=outage.pk)

    assert response.status_code == 200
    assert response.context["form"].errors["incident"]
    assert "No incident is open." in response.content.decode()
    assert snapshot(outage)["links"] == []


def test_the_queue_shows_the_incident_in_constant_queries(client, giulia, carla, outage, clock):
    def add(count):
        for _n in range(count):
            make_ticket(customer=carla, data_center="ams")

    login(client, giulia)
    add(2)
    client.get(changelist_url(queue="all"))
    with CaptureQueriesContext(connection) as few:
        client.get(changelist_url(queue="all"))
    add(18)
    with CaptureQueriesContext(connection) as many:
        response = client.get(changelist_url(queue="all"))
    assert len(response.context["cl"].result_list) == 20
    assert len(many) == len(few)
    assert response.content.decode().count(page_url(outage)) >= 20


# --- Credits --------------------------------------------------------------------------------------


def credit_form(**data):
    return {"rule": "fixed", "currency": "EUR", "reason": "Four hours down.", **data}


def test_a_fixed_credit_goes_through_the_use_case(client, giulia, linked, outage):
    login(client, giulia)

    response = client.post(form_url(outage, "credit"), credit_form(amount="25.00"))

    assert response.status_code == 302
    credit = Credit.objects.get(incident=outage)
    assert credit.approval.ticket is None
    assert credit.approval.requested_by == giulia
    assert sorted(credit.lines.values_list("amount", flat=True)) == [Decimal(25), Decimal(25)]
    assert credit.approval.amount == Decimal(50)


def test_a_share_credit_takes_one_fee_for_all_and_lines_for_the_others(
    client, giulia, linked, outage, carla, dario
):
    login(client, giulia)

    response = client.post(
        form_url(outage, "credit"),
        credit_form(
            rule="share", share_percent="10", fee="20.00", other_fees="DARIO@example.com 49,90"
        ),
    )

    assert response.status_code == 302
    credit = Credit.objects.get(incident=outage)
    amounts = {
        line.ticket.customer_id: line.amount for line in credit.lines.select_related("ticket")
    }
    assert amounts == {carla.pk: Decimal("2.00"), dario.pk: Decimal("4.99")}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (credit_form(), "amount"),
        (credit_form(amount="-5"), "amount"),
        (credit_form(rule="share", fee="20"), "share_percent"),
        (credit_form(rule="share", share_percent="150", fee="20"), "share_percent"),
        (credit_form(rule="share", share_percent="10"), "fee"),
        (
            credit_form(rule="share", share_percent="10", fee="20", other_fees="ghost@x 5"),
            "other_fees",
        ),
        (
            credit_form(rule="share", share_percent="10", fee="20", other_fees="carla lots"),
            "other_fees",
        ),
        (credit_form(amount="5", currency="E1"), "currency"),
        (credit_form(amount="5", reason=""), "reason"),
    ],
)
def test_a_bad_credit_shows_errors_and_asks_nothing(client, giulia, linked, outage, data, field):
    login(client, giulia)
    before = snapshot(outage)

    response = client.post(form_url(outage, "credit"), data)

    assert response.status_code == 400
    assert response.context["forms"]["credit"].errors.get(field), response.context["forms"][
        "credit"
    ].errors
    assert snapshot(outage) == before


def test_a_credit_without_linked_tickets_is_refused(client, giulia, outage):
    login(client, giulia)
    response = client.post(form_url(outage, "credit"), credit_form(amount="10"))
    assert response.status_code == 400
    assert "No ticket is linked to this incident." in response.content.decode()
    assert not Credit.objects.exists()


def test_a_manager_decides_an_incident_credit_in_the_management_queue(
    client, giulia, marta, linked, outage
):
    credit_request(
        incident_id=outage.pk, actor=giulia, reason="Four hours down.", amount="15", now=T0
    )
    approval = ApprovalRequest.objects.get()
    login(client, marta)

    queue = client.get(reverse("admin:escalation_approvalrequest_changelist"))
    assert queue.status_code == 200
    assert "Credit for the incident “Network outage in Amsterdam”" in queue.content.decode()

    url = reverse("admin:escalation_approvalrequest_change", args=[approval.pk])
    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert page_url(outage) in html
    assert "15.00 EUR for each customer" in html
    assert "2 customers, each told in their first linked ticket" in html
    assert "30.00 EUR" in html
    assert 'value="approve"' in html

    decided = client.post(url, {"decision": "approve", "note": "Sorry for the trouble."})

    assert decided.status_code == 302
    assert (
        "success",
        "Credit for the incident “Network outage in Amsterdam”: approved; each customer is told "
        "in their ticket.",
    ) in flashed(decided)
    approval.refresh_from_db()
    assert (approval.state, approval.decided_by) == ("approved", marta)
    fanout_batch(now=T0)
    for ticket in linked:
        assert (
            Message.objects.filter(ticket=ticket, body__contains="Sorry for the trouble.").count()
            == 1
        )


def test_agents_see_an_incident_credit_but_do_not_decide_it(client, giulia, marta, linked, outage):
    credit_request(
        incident_id=outage.pk, actor=marta, reason="Four hours down.", amount="15", now=T0
    )
    approval = ApprovalRequest.objects.get()
    login(client, giulia)
    url = reverse("admin:escalation_approvalrequest_change", args=[approval.pk])

    page = client.get(url)
    assert "Only managers decide approvals." in page.content.decode()
    refused = client.post(url, {"decision": "approve", "note": ""})
    assert refused.status_code == 403
    approval.refresh_from_db()
    assert approval.state == "pending"

    login(client, marta)
    own = client.post(url, {"decision": "approve", "note": ""})
    assert own.status_code == 403
    approval.refresh_from_db()
    assert approval.state == "pending"


# --- The managers' dashboard -------------------------------------------------------------------


DASHBOARD = "/dashboard/sla/"


def test_the_dashboard_shows_each_incident_of_the_period_with_its_figures(
    client, giulia, marta, paolo, teams
):
    carla, dario, erin = (make_customer() for _ in range(3))
    with time_machine.travel(T0 - datetime.timedelta(days=10), tick=False):
        incident_open(
            actor=giulia, title="Long ago", description="d", now=T0 - datetime.timedelta(days=10)
        )
    with time_machine.travel(T0, tick=False):
        outage = incident_open(
            actor=giulia, title="AMS down", description="d", data_center="ams", now=T0
        )
        tickets = [
            make_ticket(customer=carla, data_center="ams"),
            make_ticket(customer=carla, data_center="ams"),
            make_ticket(customer=dario, data_center="ams"),
        ]
    twelve = T0 + datetime.timedelta(minutes=12)
    with time_machine.travel(twelve, tick=False):
        incident_update(incident_id=outage.pk, actor=giulia, body="Looking.", now=twelve)
        fanout_batch(now=twelve)
        incident_follow(incident_id=outage.pk, customer=erin, now=twelve)
        credit_request(incident_id=outage.pk, actor=giulia, reason="r", amount="5", now=twelve)
        approval_decide(
            approval_id=ApprovalRequest.objects.get().pk,
            actor=marta,
            decision="approve",
            note="",
            now=twelve,
        )
    quiet = incident_open(
        actor=giulia, title="Mail slow", description="d", now=T0 + datetime.timedelta(hours=1)
    )
    client.force_login(paolo)

    with time_machine.travel(T0 + datetime.timedelta(hours=2), tick=False):
        response = client.get(DASHBOARD, {"window": "7d"})

    assert response.status_code == 200
    rows = {incident.title: figures for incident, figures in response.context["incidents"]}
    assert set(rows) == {"AMS down", "Mail slow"}
    figures = rows["AMS down"]
    assert figures.tickets == 3
    assert figures.first_update_after_seconds == 12 * 60
    assert figures.updates == 1
    assert figures.customers_reached == 2
    assert figures.credits_decided == 1
    assert figures.follows == 1
    assert figures == incident_figures(outage)
    assert rows["Mail slow"] == incident_figures(quiet)
    assert rows["Mail slow"].first_update_after_seconds is None
    html = response.content.decode()
    assert "12 min" in html
    assert "Deflection: 1 customer followed an incident" in html
    assert {t.incident_link.incident_id for t in tickets} == {outage.pk}


def test_the_dashboards_incidents_cost_the_same_queries_for_2_and_20(client, giulia, paolo, clock):
    earlier = T0 - datetime.timedelta(hours=1)

    def make(count):
        for n in range(count):
            incident = incident_open(actor=giulia, title=f"I{n}", description="d", now=earlier)
            incident_update(incident_id=incident.pk, actor=giulia, body="b", now=earlier)

    client.force_login(paolo)
    make(2)
    client.get(DASHBOARD)
    with CaptureQueriesContext(connection) as few:
        client.get(DASHBOARD)
    make(18)
    with CaptureQueriesContext(connection) as many:
        response = client.get(DASHBOARD)
    assert len(response.context["incidents"]) == 20
    assert len(many) == len(few)


def test_agents_and_customers_do_not_see_the_dashboard(client, giulia, carla):
    for user in (giulia, carla):
        client.force_login(user)
        assert client.get(DASHBOARD).status_code == 404


def test_incident_words_are_escaped_on_every_desk_page(client, giulia, carla, clock):
    incident = incident_open(
        actor=giulia, title="<b>Outage</b>", description="<script>x()</script>", now=T0
    )
    ticket = make_ticket(customer=carla)
    tickets_link(incident_id=incident.pk, actor=giulia, ticket_ids=[ticket.pk], now=T0)
    incident_update(incident_id=incident.pk, actor=giulia, body="<img src=x>", now=T0)
    login(client, giulia)
    for url in (
        reverse(CHANGELIST),
        page_url(incident),
        changelist_url(queue="all"),
        reverse("admin:tickets_ticket_change", args=[ticket.pk]),
    ):
        html = client.get(url).content.decode()
        assert "<b>Outage</b>" not in html
        assert "&lt;b&gt;Outage&lt;/b&gt;" in html
        assert "<script>x()" not in html
        assert "<img src=x>" not in html
