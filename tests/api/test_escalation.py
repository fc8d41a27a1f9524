"""Escalation over the REST API: escalate, consult, estimate and ask for an approval on a ticket;
the managers' queue of approvals, deciding and withdrawing. The use cases behind them are tested
in tests/escalation; here, what a client sees: the shapes, every refusal with its status and
code and nothing changed, who may do what, the throttles, and queries constant in the size of
the thread and of the page."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalation.models import ApprovalRequest, Consultation, Escalation
from sla.models import Clock
from teams.models import Team
from tests import factories
from tickets.models import Category, Message, OutboundEmail, Status, TeamAccess, Ticket
from usecases import escalation as escalation_use_cases
from usecases import tickets as use_cases

# Monday 11:00 in Rome: every team of the guide is at work.
MONDAY_10 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)
REASON = "The slowness comes from the host: our system administrators run the diagnostics."


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MONDAY_10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def sysadmin(structure):
    return factories.make_agent(username="luca", teams=(structure["sysadmin"],))


@pytest.fixture
def other_manager(structure):
    return factories.make_agent(username="paolo", teams=(structure["management"],), manager=True)


@pytest.fixture
def admin(structure):
    return factories.make_agent(username="root", superuser=True)


@pytest.fixture
def italian(structure):
    return factories.make_customer(username="chiara", language="it")


@pytest.fixture
def unchanged(rows):
    """Everything a refused action could have written, to compare before and after."""

    def snapshot(ticket) -> tuple:
        row = Ticket.objects.values("team_id", "status", "estimate_seconds", "updated_at").get(
            pk=ticket.pk
        )
        models = (Escalation, Consultation, ApprovalRequest, TeamAccess)
        return (
            rows(),
            {model.__name__: model.objects.count() for model in models},
            row,
            list(Clock.objects.filter(ticket=ticket).order_by("pk").values()),
        )

    return snapshot


def post(api, user, path, payload=None):
    return api(user).post(f"/api/v1/{path}", payload if payload is not None else {}, format="json")


def act(api, user, ticket, name, payload=None):
    return post(api, user, f"tickets/{ticket.pk}/{name}/", payload)


def credit(**fields):
    return {"kind": "billing_credit", "reason": "Down 3 hours on 1 March", "amount": "25.00"} | (
        fields
    )


# A valid request of each action on a ticket.
ACTIONS = {
    "escalate": {"team": "sysadmin", "reason": REASON},
    "consult": {"team": "datacenter-ams", "note": "Is the fan failing?"},
    "estimate": {"seconds": 3600, "note": "A day of work."},
    "approvals": credit(),
}


def thread_of(api, user, ticket) -> list[dict]:
    return api(user).get(f"/api/v1/tickets/{ticket.pk}/messages/?page_size=100").json()["results"]


# --- Escalate -----------------------------------------------------------------------------


def test_escalate_moves_the_ticket_and_tells_the_customer_in_their_language(
    api, agent, sysadmin, italian
):
    ticket = factories.make_ticket(customer=italian, subject="VPS lento", category=Category.VPS)

    response = act(api, agent, ticket, "escalate", {"team": "sysadmin", "reason": REASON})

    assert response.status_code == 200
    body = response.json()
    assert body["team"] == {"slug": "sysadmin", "name": "System administrators", "tier": 3}
    assert body["sla"]["resolution"]["due_at"] == Clock.objects.get(
        ticket=ticket, metric="resolution", met_at=None, cancelled_at=None
    ).due_at.isoformat().replace("+00:00", "Z")
    notice = thread_of(api, italian, ticket)[-1]
    assert (notice["kind"], notice["author"]) == ("system", None)
    assert "al nostro team Amministratori di sistema" in notice["body"]
    assert f"Perché: {REASON}" in notice["body"]
    assert "Non è necessario inviarla di nuovo" in notice["body"]
    assert "è al lavoro in questo momento" in notice["body"]
    email = OutboundEmail.objects.get(ticket=ticket, purpose="escalation")
    assert email.to == italian.email
    assert "Amministratori di sistema" in email.body_text
    assert OutboundEmail.objects.filter(purpose="escalated", to=sysadmin.email).exists()
    record = Escalation.objects.get(ticket=ticket)
    assert (record.from_team.slug, record.to_team.slug, record.by, record.reason) == (
        "support",
        "sysadmin",
        agent,
        REASON,
    )


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"team": "sysadmin", "reason": ""}, "reason", "invalid"),
        ({"team": "sysadmin", "reason": "   "}, "reason", "invalid"),
        ({"team": "sysadmin"}, "reason", "invalid"),
        ({"reason": REASON}, "team", "invalid"),
        ({"team": None, "reason": REASON}, "team", "invalid"),
        ({"team": ["sysadmin"], "reason": REASON}, "team", "invalid"),
        ({"team": "nowhere", "reason": REASON}, "team", "unknown_team"),
        ({"team": "x" * 500, "reason": REASON}, "team", "invalid"),
        ({"team": "billing-old", "reason": REASON}, "team", "unknown_team"),
        ({"team": "management", "reason": REASON}, "team", "not_a_tier"),
        ({"team": "support", "reason": REASON}, "team", "same_team"),
    ],
)
def test_escalate_refusals_change_nothing(api, agent, ticket_a, unchanged, payload, field, code):
    factories.make_team(slug="billing-old", kind=Team.Kind.BILLING, tier=2, active=False)
    before = unchanged(ticket_a)

    response = act(api, agent, ticket_a, "escalate", payload)

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == code
    assert list(body["errors"]) == [field]
    assert unchanged(ticket_a) == before


def test_a_closed_ticket_is_not_escalated(api, agent, customer_a, ticket_a, unchanged):
    use_cases.ticket_resolve(ticket_id=ticket_a.pk, actor=agent, summary="Done.", now=MONDAY_10)
    use_cases.ticket_confirm(ticket_id=ticket_a.pk, customer=customer_a, now=MONDAY_10)
    before = unchanged(ticket_a)

    response = act(api, agent, ticket_a, "escalate", {"team": "sysadmin", "reason": REASON})

    assert response.status_code == 400
    assert response.json()["code"] == "ticket_closed"
    assert unchanged(ticket_a) == before


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("consult", 400, "ticket_closed"),
        ("estimate", 409, "already_resolved"),
        ("approvals", 409, "already_resolved"),
    ],
)
def test_a_closed_ticket_is_not_consulted_estimated_or_sent_for_approval(
    api, agent, customer_a, ticket_a, unchanged, name, status, code
):
    use_cases.ticket_resolve(ticket_id=ticket_a.pk, actor=agent, summary="Done.", now=MONDAY_10)
    use_cases.ticket_confirm(ticket_id=ticket_a.pk, customer=customer_a, now=MONDAY_10)
    before = unchanged(ticket_a)

    response = act(api, agent, ticket_a, name, ACTIONS[name])

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert unchanged(ticket_a) == before


def test_a_body_that_is_not_an_object_is_refused(api, agent, ticket_a, unchanged):
    before = unchanged(ticket_a)
    for name in ("escalate", "consult", "estimate", "approvals"):
        response = api(agent).post(
            f"/api/v1/tickets/{ticket_a.pk}/{name}/", "[1, 2]", content_type="application/json"
        )
        assert response.status_code == 400, name
        response = api(agent).post(
            f"/api/v1/tickets/{ticket_a.pk}/{name}/", "{", content_type="application/json"
        )
        assert response.status_code == 400, name
    assert unchanged(ticket_a) == before


# --- Who may ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ACTIONS)
def test_customers_get_404_for_others_tickets_and_403_on_their_own(
    api, customer_a, customer_b, ticket_a, unchanged, name
):
    before = unchanged(ticket_a)

    other = act(api, customer_b, ticket_a, name, ACTIONS[name])
    own = act(api, customer_a, ticket_a, name, ACTIONS[name])

    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    assert (own.status_code, own.json()["code"]) == (403, "permission_denied")
    assert unchanged(ticket_a) == before


@pytest.mark.parametrize("name", ACTIONS)
def test_agents_who_may_not_see_the_ticket_get_404_and_anonymous_401(
    api, other_agent, ticket_a, unchanged, name
):
    before = unchanged(ticket_a)

    assert act(api, other_agent, ticket_a, name, ACTIONS[name]).status_code == 404
    assert act(api, None, ticket_a, name, ACTIONS[name]).status_code == 401
    missing = Ticket.objects.order_by("-pk").first().pk + 1000
    assert post(api, other_agent, f"tickets/{missing}/{name}/", ACTIONS[name]).status_code == 404
    assert unchanged(ticket_a) == before


@pytest.mark.parametrize("name", ACTIONS)
def test_the_actions_answer_post_only(api, agent, ticket_a, name):
    assert api(agent).get(f"/api/v1/tickets/{ticket_a.pk}/{name}/").status_code == 405


# --- Consult ------------------------------------------------------------------------------


def test_consult_answers_the_consultation_and_the_customer_sees_nothing(
    api, agent, customer_a, ticket_a
):
    customer_thread = thread_of(api, customer_a, ticket_a)
    emails = OutboundEmail.objects.filter(to=customer_a.email).count()
    technician = factories.make_agent(teams=(Team.objects.get(slug="datacenter-ams"),))

    response = act(api, agent, ticket_a, "consult", ACTIONS["consult"])

    assert response.status_code == 201
    body = response.json()
    consultation = Consultation.objects.get(ticket=ticket_a)
    assert body == {
        "id": consultation.pk,
        "ticket": {"id": ticket_a.pk, "reference": ticket_a.reference, "subject": ticket_a.subject},
        "team": {"slug": "datacenter-ams", "name": "Data center technicians (ams)", "tier": 2},
        "note": "Is the fan failing?",
        "state": "open",
        "asked_by": {"id": agent.pk, "name": "giulia"},
        "asked_at": "2026-03-02T10:00:00Z",
        "answered_by": None,
        "answered_at": None,
    }
    assert thread_of(api, customer_a, ticket_a) == customer_thread
    assert OutboundEmail.objects.filter(to=customer_a.email).count() == emails
    assert thread_of(api, agent, ticket_a)[-1]["kind"] == "internal"
    # The consulted team sees the ticket; it stays with the first line.
    seen = api(technician).get(f"/api/v1/tickets/{ticket_a.pk}/").json()
    assert seen["team"]["slug"] == "support"


def test_consulting_the_same_team_twice_is_a_conflict(api, agent, ticket_a, unchanged):
    assert act(api, agent, ticket_a, "consult", ACTIONS["consult"]).status_code == 201
    before = unchanged(ticket_a)

    response = act(api, agent, ticket_a, "consult", {"team": "datacenter-ams", "note": "Again?"})

    assert (response.status_code, response.json()["code"]) == (409, "already_consulted")
    assert unchanged(ticket_a) == before


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"team": "datacenter-ams", "note": " "}, "note", "invalid"),
        ({"team": "datacenter-ams"}, "note", "invalid"),
        ({"team": "nowhere", "note": "Hello?"}, "team", "unknown_team"),
        ({"team": "management", "note": "Hello?"}, "team", "not_a_tier"),
        ({"team": "support", "note": "Hello?"}, "team", "same_team"),
    ],
)
def test_consult_refusals_change_nothing(api, agent, ticket_a, unchanged, payload, field, code):
    before = unchanged(ticket_a)

    response = act(api, agent, ticket_a, "consult", payload)

    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["errors"])) == (code, [field])
    assert unchanged(ticket_a) == before


# --- Estimate -----------------------------------------------------------------------------


def test_estimate_sets_the_resolution_target_and_tells_the_customer(
    api, agent, customer_a, ticket_a
):
    response = act(api, agent, ticket_a, "estimate", {"seconds": 3 * 3600, "note": "New disks."})

    assert response.status_code == 200
    body = response.json()
    assert body["estimate_seconds"] == 3 * 3600
    # The first line works around the clock: three hours from now.
    assert body["sla"]["resolution"]["due_at"] == "2026-03-02T13:00:00Z"
    notice = thread_of(api, customer_a, ticket_a)[-1]
    assert notice["kind"] == "system"
    assert (
        "we expect to resolve it by Monday 2 March at 14:00 (Europe/Rome time)" in (notice["body"])
    )
    assert "New disks." in notice["body"]
    assert OutboundEmail.objects.filter(ticket=ticket_a, purpose="estimate").exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"seconds": 59},
        {"seconds": 0},
        {"seconds": -60},
        {"seconds": 90 * 86400 + 1},
        {"seconds": 10**30},
        {"seconds": 3600.5},
        {"seconds": "an hour"},
        {"seconds": None},
        {"note": "Soon."},
    ],
)
def test_estimates_out_of_bounds_are_refused(api, agent, ticket_a, unchanged, payload):
    before = unchanged(ticket_a)

    response = act(api, agent, ticket_a, "estimate", payload)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["seconds"]
    assert unchanged(ticket_a) == before


def test_the_bounds_themselves_are_estimates(api, agent, ticket_a):
    assert act(api, agent, ticket_a, "estimate", {"seconds": 60}).status_code == 200
    assert act(api, agent, ticket_a, "estimate", {"seconds": 90 * 86400}).status_code == 200


def test_a_resolved_ticket_gets_no_estimate(api, agent, ticket_a, unchanged):
    use_cases.ticket_resolve(ticket_id=ticket_a.pk, actor=agent, summary="Done.", now=MONDAY_10)
    before = unchanged(ticket_a)

    response = act(api, agent, ticket_a, "estimate", {"seconds": 3600})

    assert (response.status_code, response.json()["code"]) == (409, "already_resolved")
    assert unchanged(ticket_a) == before


# --- Approvals: asking --------------------------------------------------------------------


def test_asking_for_an_approval_answers_the_request_and_the_ticket_waits(
    api, agent, customer_a, ticket_a
):
    response = act(api, agent, ticket_a, "approvals", credit(amount=25))

    assert response.status_code == 201
    approval = ApprovalRequest.objects.get(ticket=ticket_a)
    assert response.json() == {
        "id": approval.pk,
        "ticket": {"id": ticket_a.pk, "reference": ticket_a.reference, "subject": ticket_a.subject},
        "incident": None,
        "kind": "billing_credit",
        "amount": "25.00",
        "currency": "EUR",
        "reason": "Down 3 hours on 1 March",
        "state": "pending",
        "requested_by": {"id": agent.pk, "name": "giulia"},
        "requested_at": "2026-03-02T10:00:00Z",
        "decided_by": None,
        "decided_at": None,
        "note": "",
    }
    ticket = api(agent).get(f"/api/v1/tickets/{ticket_a.pk}/").json()
    assert (ticket["status"], ticket["pending_approval"]) == ("pending_approval", approval.pk)
    # The resolution waits with the ticket; a person's first answer is still due at any hour.
    assert ticket["sla"]["resolution"]["paused"] is True
    assert ticket["sla"]["first_response"]["paused"] is False
    notice = thread_of(api, customer_a, ticket_a)[-1]
    assert (
        "needs the approval of our management for a billing credit of 25.00 EUR" in (notice["body"])
    )


def test_a_special_request_needs_no_amount(api, agent, ticket_a):
    response = act(api, agent, ticket_a, "approvals", {"kind": "special", "reason": "A rack"})

    assert response.status_code == 201
    assert (response.json()["amount"], response.json()["currency"]) == (None, "")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": None}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": ""}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "25.001"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "Infinity"}, "amount"),
        ({"amount": "1e400"}, "amount"),
        ({"amount": "1000000.01"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": ["25"]}, "amount"),
        ({"amount": "9" * 40}, "amount"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "E1R"}, "currency"),
        ({"kind": "bonus"}, "kind"),
        ({"kind": None}, "kind"),
        ({"reason": "  "}, "reason"),
        ({"reason": None}, "reason"),
    ],
)
def test_bad_approval_requests_are_refused(api, agent, ticket_a, unchanged, fields, field):
    before = unchanged(ticket_a)

    response = act(api, agent, ticket_a, "approvals", credit(**fields))

    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == [field]
    assert unchanged(ticket_a) == before


def test_one_pending_approval_at_a_time(api, agent, ticket_a, unchanged):
    assert act(api, agent, ticket_a, "approvals", credit()).status_code == 201
    before = unchanged(ticket_a)

    response = act(api, agent, ticket_a, "approvals", {"kind": "special", "reason": "And this"})

    assert (response.status_code, response.json()["code"]) == (409, "approval_pending")
    assert unchanged(ticket_a) == before


# --- Approvals: the queue, deciding, withdrawing ------------------------------------------


@pytest.fixture
def asked(agent, ticket_a):
    """The L1 agent asked management for a credit of 25.00 EUR on customer A's ticket."""
    return escalation_use_cases.approval_request(
        ticket_id=ticket_a.pk,
        actor=agent,
        kind="billing_credit",
        reason="Down 3 hours",
        amount="25.00",
        now=MONDAY_10,
    )


def decide(api, user, approval_id, decision="approve", note=""):
    return post(api, user, f"approvals/{approval_id}/decide/", {"decision": decision, "note": note})


def test_a_manager_approves_and_the_ticket_goes_back_to_its_team(
    api, manager, customer_a, ticket_a, asked, clock
):
    clock.shift(datetime.timedelta(minutes=30))

    response = decide(api, manager, asked.pk, note="Credited on the next invoice.")

    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["decided_by"], body["decided_at"], body["note"]) == (
        "approved",
        {"id": manager.pk, "name": "marta"},
        "2026-03-02T10:30:00Z",
        "Credited on the next invoice.",
    )
    ticket = api(manager).get(f"/api/v1/tickets/{ticket_a.pk}/").json()
    assert (ticket["status"], ticket["pending_approval"], ticket["team"]["slug"]) == (
        "open",
        None,
        "support",
    )
    told = thread_of(api, customer_a, ticket_a)[-1]["body"]
    assert "Our management has approved a billing credit of 25.00 EUR." in told
    assert "Credited on the next invoice." in told


def test_a_rejected_credit_is_told_to_the_customer(api, manager, customer_a, ticket_a, asked):
    response = decide(api, manager, asked.pk, "reject", "The outage was announced maintenance.")

    assert response.json()["state"] == "rejected"
    told = thread_of(api, customer_a, ticket_a)[-1]["body"]
    assert "Our management could not approve a billing credit of 25.00 EUR." in told
    assert OutboundEmail.objects.filter(
        ticket=ticket_a, purpose="approval", to=customer_a.email
    ).exists()


@pytest.mark.parametrize("who", ["customer_a", "customer_b", "agent", "other_agent"])
def test_only_managers_decide(request, api, ticket_a, asked, unchanged, who):
    before = unchanged(ticket_a)

    response = decide(api, request.getfixturevalue(who), asked.pk)

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert unchanged(ticket_a) == before
    assert ApprovalRequest.objects.get(pk=asked.pk).state == "pending"


def test_the_manager_who_asked_does_not_decide(api, manager, other_manager, customer_a):
    ticket = factories.make_ticket(customer=customer_a)
    mine = act(api, manager, ticket, "approvals", credit()).json()

    refused = decide(api, manager, mine["id"])
    decided = decide(api, other_manager, mine["id"], "reject")

    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert decided.status_code == 200


def test_a_second_decision_is_a_conflict(api, manager, other_manager, ticket_a, asked, unchanged):
    assert decide(api, manager, asked.pk).status_code == 200
    before = unchanged(ticket_a)

    for who, decision in ((manager, "approve"), (other_manager, "reject")):
        response = decide(api, who, asked.pk, decision)
        assert (response.status_code, response.json()["code"]) == (409, "already_decided")
    assert unchanged(ticket_a) == before
    assert ApprovalRequest.objects.get(pk=asked.pk).state == "approved"


def test_deciding_what_does_not_exist_is_404(api, manager, asked):
    assert decide(api, manager, asked.pk + 1000).status_code == 404
    assert decide(api, manager, 10**30).status_code == 404
    assert post(api, manager, f"approvals/{asked.pk}x/decide/", {}).status_code == 404


@pytest.mark.parametrize(
    "payload",
    [{}, {"decision": "maybe"}, {"decision": None}, {"decision": "approve", "note": {"a": 1}}],
)
def test_a_bad_decision_is_refused(api, manager, ticket_a, asked, unchanged, payload):
    before = unchanged(ticket_a)

    response = post(api, manager, f"approvals/{asked.pk}/decide/", payload)

    assert response.status_code == 400
    assert unchanged(ticket_a) == before


def test_the_one_who_asked_withdraws_and_the_ticket_goes_on(
    api, agent, customer_a, ticket_a, asked
):
    response = post(api, agent, f"approvals/{asked.pk}/withdraw/")

    assert response.status_code == 200
    assert (response.json()["state"], response.json()["decided_by"]) == ("withdrawn", None)
    assert Ticket.objects.get(pk=ticket_a.pk).status == Status.OPEN
    told = thread_of(api, customer_a, ticket_a)[-1]["body"]
    assert "We no longer need the approval of our management" in told
    again = post(api, agent, f"approvals/{asked.pk}/withdraw/")
    assert (again.status_code, again.json()["code"]) == (409, "already_decided")


def test_a_manager_withdraws_too(api, manager, asked):
    assert post(api, manager, f"approvals/{asked.pk}/withdraw/").json()["state"] == "withdrawn"


def test_others_do_not_withdraw(
    api, structure, customer_a, other_agent, ticket_a, asked, unchanged
):
    colleague = factories.make_agent(teams=(structure["support"],))
    before = unchanged(ticket_a)

    assert post(api, colleague, f"approvals/{asked.pk}/withdraw/").status_code == 403
    assert post(api, customer_a, f"approvals/{asked.pk}/withdraw/").status_code == 403
    # An agent who may not see the ticket cannot learn that the request exists.
    assert post(api, other_agent, f"approvals/{asked.pk}/withdraw/").status_code == 404
    assert post(api, None, f"approvals/{asked.pk}/withdraw/").status_code == 401
    assert unchanged(ticket_a) == before


def test_the_queue_is_for_managers_and_admins(api, customer_a, agent, manager, admin, asked):
    assert api().get("/api/v1/approvals/").status_code == 401
    for user in (customer_a, agent):
        response = api(user).get("/api/v1/approvals/?state=pending")
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    for user in (manager, admin):
        body = api(user).get("/api/v1/approvals/?state=pending").json()
        assert (body["count"], body["next"], body["previous"]) == (1, None, None)
        assert [a["id"] for a in body["results"]] == [asked.pk]


@pytest.mark.parametrize("query", ["state=maybe", "state=PENDING", "state=pending%00"])
def test_an_unknown_state_is_refused(api, manager, query):
    response = api(manager).get(f"/api/v1/approvals/?{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["state"]


def approvals_made(n: int, *, customer, agent, manager, clock) -> list[ApprovalRequest]:
    """`n` tickets, each with an approval asked one minute after the one before; every third
    decided by the manager."""
    made = []
    for i in range(n):
        clock.shift(datetime.timedelta(minutes=1))
        ticket = factories.make_ticket(customer=customer, subject=f"Credit {i}")
        approval = escalation_use_cases.approval_request(
            ticket_id=ticket.pk,
            actor=agent,
            kind="special" if i % 2 else "billing_credit",
            reason=f"Reason {i}",
            amount=None if i % 2 else f"{i + 1}.50",
            now=timezone.now(),
        )
        if i % 3 == 2:
            escalation_use_cases.approval_decide(
                approval_id=approval.pk,
                actor=manager,
                decision="approve",
                note="",
                now=timezone.now(),
            )
        made.append(approval)
    return made


def test_pending_is_the_queue_oldest_first_and_the_rest_newest_first(
    api, customer_a, agent, manager, clock
):
    made = approvals_made(6, customer=customer_a, agent=agent, manager=manager, clock=clock)
    decided = {made[2].pk, made[5].pk}

    def ids(query: str) -> list[int]:
        return [a["id"] for a in api(manager).get(f"/api/v1/approvals/?{query}").json()["results"]]

    assert ids("state=pending") == [a.pk for a in made if a.pk not in decided]
    assert ids("state=approved") == [made[5].pk, made[2].pk]
    assert ids("state=rejected") == []
    assert ids("") == ids("state=") == [a.pk for a in reversed(made)]


@pytest.mark.parametrize("query", ["state=pending", "state=approved", ""])
def test_the_queue_costs_the_same_queries_for_2_or_30_requests(
    api, customer_a, agent, manager, clock, django_assert_num_queries, query
):
    client = api(manager)
    approvals_made(3, customer=customer_a, agent=agent, manager=manager, clock=clock)
    with CaptureQueriesContext(connection) as few:
        small = client.get(f"/api/v1/approvals/?page_size=100&{query}").json()["results"]
    approvals_made(30, customer=customer_a, agent=agent, manager=manager, clock=clock)

    with django_assert_num_queries(len(few)):
        large = client.get(f"/api/v1/approvals/?page_size=100&{query}").json()["results"]

    assert 1 <= len(small) < len(large)
    assert len(few) <= 4


def test_a_page_of_tickets_with_approvals_costs_the_same_queries(
    api, customer_a, agent, manager, clock, django_assert_num_queries
):
    client = api(manager)
    approvals_made(3, customer=customer_a, agent=agent, manager=manager, clock=clock)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/tickets/?page_size=100")
    approvals_made(30, customer=customer_a, agent=agent, manager=manager, clock=clock)

    with django_assert_num_queries(len(few)):
        results = client.get("/api/v1/tickets/?page_size=100").json()["results"]

    pending = {a.ticket_id: a.pk for a in ApprovalRequest.objects.filter(state="pending")}
    assert {t["id"]: t["pending_approval"] for t in results if t["pending_approval"]} == pending
    assert len(pending) == 22


# --- Queries constant in the size of the thread -------------------------------------------


def thread_grown(ticket, *, agent, customer, messages: int) -> None:
    """Grow the thread to at least `messages` messages, customer and agent in turn."""
    while Message.objects.filter(ticket=ticket).count() < messages:
        for author in (customer, agent):
            use_cases.ticket_reply(
                ticket_id=ticket.pk, author=author, body="And?", channel="web", now=timezone.now()
            )


def cost_of(api, name, *, agent, manager, customer) -> list[int]:
    """The queries of the action on a ticket of 2 messages and on one of 50, after a first call
    that fills the process's caches (the routing inputs, the translations)."""
    counts = []
    for messages in (2, 2, 50):
        ticket = factories.make_ticket(customer=customer)
        use_cases.ticket_reply(
            ticket_id=ticket.pk, author=agent, body="Looking.", channel="web", now=timezone.now()
        )
        thread_grown(ticket, agent=agent, customer=customer, messages=messages)
        action = action_ready(api, name, ticket, agent=agent, manager=manager)
        with CaptureQueriesContext(connection) as queries:
            response = action()
        assert response.status_code in (200, 201), response.json()
        counts.append(len(queries))
    return counts


def action_ready(api, name, ticket, *, agent, manager):
    """The request of the action `name` on the ticket, with what it needs already there (an
    approval request to decide or withdraw)."""
    if name in ACTIONS:
        return lambda: act(api, agent, ticket, name, ACTIONS[name])
    approval = escalation_use_cases.approval_request(
        ticket_id=ticket.pk, actor=agent, kind="special", reason="A rack", now=timezone.now()
    )
    if name == "decide":
        return lambda: decide(api, manager, approval.pk)
    return lambda: post(api, agent, f"approvals/{approval.pk}/withdraw/")


@pytest.mark.parametrize("name", [*ACTIONS, "decide", "withdraw"])
def test_an_action_costs_the_same_queries_on_a_thread_of_2_or_50_messages(
    api, agent, manager, customer_a, name
):
    _first, small, large = cost_of(api, name, agent=agent, manager=manager, customer=customer_a)
    assert small == large


# --- Throttles ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "name"),
    [
        ("escalate", "escalate"),
        ("consult", "consult"),
        ("estimate", "estimate"),
        ("approval_request", "approvals"),
        ("approval_decide", "decide"),
        ("approval_withdraw", "withdraw"),
    ],
)
def test_each_action_has_its_own_throttle(api, settings, agent, manager, ticket_a, scope, name):
    settings.DOOR_LIMITS = {**settings.DOOR_LIMITS, scope: {"account": "2/h"}}
    user = manager if name == "decide" else agent
    path = (
        f"approvals/{10**6}/{name}/"
        if name in ("decide", "withdraw")
        else f"tickets/{ticket_a.pk}/{name}/"
    )

    # Refused requests count too: a script that retries bad input is stopped all the same.
    statuses = [post(api, user, path, {"bad": "input"}).status_code for _ in range(3)]
    other_action = "consult" if name == "escalate" else "escalate"
    other = act(api, agent, ticket_a, other_action, {})

    assert 429 not in statuses[:2] and statuses[2] == 429
    third = post(api, user, path, {})
    assert third.json()["code"] == "throttled"
    assert int(third["Retry-After"]) > 0
    assert other.status_code == 400


def test_the_default_rates_are_generous_for_agents(settings):
    for door in ("escalate", "consult", "estimate", "approval_request"):
        count, period = settings.DOOR_LIMITS[door]["account"].split("/")
        assert period == "h" and int(count) >= 120, door


# --- The schema ---------------------------------------------------------------------------


def test_the_schema_documents_every_escalation_endpoint(api, agent):
    schema = api(agent).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    expected = {
        "/api/v1/tickets/{id}/escalate/": {"200", "400", "401", "403", "404", "429"},
        "/api/v1/tickets/{id}/consult/": {"201", "400", "401", "403", "404", "409", "429"},
        "/api/v1/tickets/{id}/estimate/": {"200", "400", "401", "403", "404", "409", "429"},
        "/api/v1/tickets/{id}/approvals/": {"201", "400", "401", "403", "404", "409", "429"},
        "/api/v1/approvals/{id}/decide/": {"200", "400", "401", "403", "404", "409", "429"},
        "/api/v1/approvals/{id}/withdraw/": {"200", "400", "401", "403", "404", "409", "429"},
    }
    for path, statuses in expected.items():
        assert set(paths[path]["post"]["responses"]) == statuses, path
    listing = paths["/api/v1/approvals/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"state", "page", "page_size"}
    assert set(listing["responses"]) == {"200", "400", "401", "403", "404"}
    components = schema["components"]["schemas"]
    assert {"estimate_seconds", "pending_approval"} <= set(components["Ticket"]["properties"])
    assert set(components["Approval"]["properties"]) == {
        "id",
        "ticket",
        "incident",
        "kind",
        "amount",
        "currency",
        "reason",
        "state",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "note",
    }
