"""Escalation in the agents' desk: the ticket page's forms (escalate, consult, estimate, ask for
approval) through the use cases, the rules' suggestion, the consulted team's view, the history;
the queue's consultation filter, marker and bulk escalation; read-only history lists."""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalation.models import ApprovalRequest, Consultation, Escalation
from tests.desk.conftest import T0, change_url, changelist_url, flashed, listed, login, staff
from tests.factories import make_customer, make_ticket
from tickets.models import Category, Channel, Message, OutboundEmail, Status, Ticket
from usecases.escalation import approval_request, ticket_consult, ticket_escalate
from usecases.tickets import ticket_assign, ticket_confirm, ticket_reply, ticket_resolve

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def giulia(teams):
    return staff("giulia", "support")


@pytest.fixture
def luca(teams):
    return staff("luca", "sysadmin")


@pytest.fixture
def sanne(teams):
    return staff("sanne", "datacenter-ams")


@pytest.fixture
def bruno(teams):
    return staff("bruno", "billing")


@pytest.fixture
def carla(teams):
    return make_customer(username="carla")


@pytest.fixture
def vps(carla, clock):
    return make_ticket(
        customer=carla,
        subject="My VPS is slow",
        body="Pages take ten seconds since this morning.",
        category=Category.VPS,
    )


def action_url(ticket, name) -> str:
    return reverse(f"admin:tickets_ticket_{name}", args=[ticket.pk])


def state(ticket) -> dict:
    """Everything an action could change about a ticket."""
    ticket.refresh_from_db()
    return {
        "team": ticket.team_id,
        "status": ticket.status,
        "estimate": ticket.estimate_seconds,
        "messages": ticket.messages.count(),
        "escalations": Escalation.objects.filter(ticket=ticket).count(),
        "consultations": list(Consultation.objects.filter(ticket=ticket).values("state")),
        "approvals": list(ApprovalRequest.objects.filter(ticket=ticket).values("state")),
        "emails": OutboundEmail.objects.filter(ticket=ticket).count(),
    }


def closed(ticket, agent, customer) -> Ticket:
    ticket_resolve(ticket_id=ticket.pk, actor=agent, summary="Done.", now=T0)
    ticket_confirm(ticket_id=ticket.pk, customer=customer, now=T0)
    return ticket


def selected_option(html: str, select_id: str) -> str | None:
    select = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S).group(1)
    chosen = re.search(r'<option value="([^"]*)"[^>]*selected', select)
    return chosen.group(1) if chosen else None


def options(html: str, select_id: str) -> list[str]:
    select = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return [value for value in re.findall(r'<option value="([^"]*)"', select) if value]


# --- The ticket page ---------------------------------------------------------------------------


def test_the_page_shows_the_rules_suggestion_with_the_escalate_form_preselected(
    client, vps, giulia
):
    login(client, giulia)

    html = client.get(change_url(vps)).content.decode()

    assert "Suggested: System administrators</strong> — VPS or dedicated server problem" in html
    assert selected_option(html, "id_escalate_team") == "sysadmin"
    # The tiers other than the owner; management decides approvals instead.
    assert options(html, "id_escalate_team") == [
        "billing",
        "datacenter-ams",
        "datacenter-mia",
        "sysadmin",
    ]
    assert options(html, "id_consult_team") == options(html, "id_escalate_team")
    assert selected_option(html, "id_consult_team") == ""
    assert re.search(r'<details class="hd-action" id="hd-action-escalate" open>', html)
    for name in ("escalate", "consult", "estimate", "approval"):
        assert f'action="{action_url(vps, name)}"' in html
    assert "Not escalated: the ticket is with the team it started with." in html


def test_a_credit_request_suggests_management_approval(client, carla, giulia, clock):
    ticket = make_ticket(
        customer=carla,
        subject="Credit for the outage",
        body="Down for three hours.",
        category=Category.BILLING_CREDIT,
    )
    login(client, giulia)

    html = client.get(change_url(ticket)).content.decode()

    assert "Suggested: Management approval (Billing credit)</strong>" in html
    assert selected_option(html, "id_approval_kind") == "billing_credit"
    assert 'id="hd-action-approval" open' in html


def test_escalate_moves_the_ticket_tells_the_customer_and_shows_in_the_history(
    client, vps, giulia, luca, carla
):
    login(client, giulia)

    response = client.post(
        action_url(vps, "escalate"),
        {"team": "sysadmin", "reason": "The host's storage is slow: sysadmins have the tools."},
    )

    # Giulia never worked the ticket: once it leaves her team, she is sent back to her queue.
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:tickets_ticket_changelist")
    assert flashed(response) == [
        (
            "success",
            f"{vps.reference} is passed to System administrators; the customer has been told "
            "which team and why.",
        )
    ]
    vps.refresh_from_db()
    assert vps.team.slug == "sysadmin"
    escalation = Escalation.objects.get(ticket=vps)
    assert (escalation.kind, escalation.by, escalation.from_team.slug) == (
        "agent",
        giulia,
        "support",
    )
    notice = vps.messages.filter(kind=Message.Kind.SYSTEM).latest("id")
    assert "Why: The host's storage is slow: sysadmins have the tools." in notice.body
    assert OutboundEmail.objects.filter(message=notice, to=carla.email).exists()

    login(client, luca)
    html = client.get(change_url(vps)).content.decode()
    row = re.search(r'<section class="hd-escalations".*?</table>', html, re.S).group(0)
    for text in ("Support engineers", "System administrators", "by an agent", "Giulia"):
        assert text in row
    assert "The host&#x27;s storage is slow" in row
    # The rules' suggestion is done: the ticket is with the suggested team.
    assert "Suggested:" not in html
    assert "sysadmin" not in options(html, "id_escalate_team")

    login(client, carla)
    portal = client.get(f"/tickets/{vps.pk}/").content.decode()
    assert "System administrators" in portal
    assert "The host&#x27;s storage is slow" in portal


def test_an_agent_who_still_sees_the_ticket_is_taken_back_to_it(client, vps, giulia):
    ticket_assign(ticket_id=vps.pk, actor=giulia, assignee_id=None, now=T0)
    login(client, giulia)

    response = client.post(action_url(vps, "escalate"), {"team": "sysadmin", "reason": "Disk."})

    assert response["Location"] == change_url(vps)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"team": "sysadmin", "reason": "  "}, "This field is required."),
        ({"team": "", "reason": "Slow disk"}, "This field is required."),
        ({"team": "nowhere", "reason": "Slow disk"}, "Select a valid choice."),
        ({"team": "support", "reason": "Slow disk"}, "Select a valid choice."),
        ({"team": "management", "reason": "Slow disk"}, "Select a valid choice."),
    ],
)
def test_a_refused_escalation_shows_why_and_changes_nothing(client, vps, giulia, data, error):
    login(client, giulia)
    before = state(vps)

    response = client.post(action_url(vps, "escalate"), data)

    assert response.status_code == 400
    html = response.content.decode()
    assert error in html
    assert 'id="hd-action-escalate" open' in html
    assert state(vps) == before


def test_the_use_cases_refusal_shows_on_the_form_with_its_status(client, vps, giulia, carla):
    closed(vps, giulia, carla)
    login(client, giulia)
    before = state(vps)

    response = client.post(action_url(vps, "escalate"), {"team": "sysadmin", "reason": "Disk."})

    assert response.status_code == 400
    assert "A closed ticket is not escalated." in response.content.decode()
    assert state(vps) == before
    # A closed ticket offers no form at all.
    html = client.get(change_url(vps)).content.decode()
    assert 'class="hd-action"' not in html


def test_others_cannot_reach_the_forms(client, vps, bruno, carla, giulia):
    before = state(vps)
    data = {
        "escalate": {"team": "sysadmin", "reason": "x"},
        "consult": {"team": "sysadmin", "note": "x"},
        "estimate": {"hours": "1", "minutes": "0", "note": ""},
        "approval": {"kind": "special", "reason": "x"},
    }

    login(client, bruno)  # an agent of another team
    for name, fields in data.items():
        assert client.post(action_url(vps, name), fields).status_code == 404, name
    assert client.get(change_url(vps)).status_code == 404
    login(client, carla)  # customers never reach the desk: the admin's login
    for name, fields in data.items():
        response = client.post(action_url(vps, name), fields)
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("admin:login"))
    assert state(vps) == before

    login(client, giulia)
    assert client.get(action_url(vps, "escalate")).status_code == 405
    for missing in ("999999", "9" * 30):
        url = f"/admin/tickets/ticket/{missing}/escalate/"
        assert client.post(url, data["escalate"]).status_code == 404


def test_consult_the_team_sees_the_question_and_answers_with_a_note(
    client, carla, giulia, sanne, clock
):
    ticket = make_ticket(
        customer=carla,
        subject="Failing disk",
        body="SMART errors on sdb.",
        category=Category.DATACENTER,
        data_center="ams",
    )
    login(client, giulia)
    question = "Can you swap sdb of ams-ded-1187 today?"

    response = client.post(
        action_url(ticket, "consult"), {"team": "datacenter-ams", "note": question}
    )

    assert response.status_code == 302 and response["Location"] == change_url(ticket)
    assert flashed(response) == [
        (
            "success",
            "Data center technicians (ams) has been asked; they see the ticket and answer with "
            "an internal note.",
        )
    ]
    consultation = Consultation.objects.get(ticket=ticket)
    assert (consultation.team.slug, consultation.note, consultation.state) == (
        "datacenter-ams",
        question,
        "open",
    )
    ticket.refresh_from_db()
    assert ticket.team.slug == "support"

    login(client, sanne)
    assert [t.pk for t in listed(client)] == [ticket.pk]  # in her default queue
    assert [t.pk for t in listed(client, consulted="mine")] == [ticket.pk]
    queue = client.get(changelist_url()).content.decode()
    assert '<span class="hd-mark hd-mark--asked">Your team&#x27;s answer</span>' in queue
    page = client.get(change_url(ticket)).content.decode()
    assert f"Your team was asked: {question}" in page
    assert "Answer with an internal note below" in page

    reply = client.post(
        change_url(ticket), {"body": "Yes, at 14:00 CET.", "visibility": "internal"}
    )
    assert reply.status_code == 302
    consultation.refresh_from_db()
    assert consultation.state == "answered" and consultation.answered_by == sanne
    page = client.get(change_url(ticket)).content.decode()
    assert "Your team was asked" not in page
    assert listed(client, consulted="mine") == []

    login(client, giulia)
    page = client.get(change_url(ticket)).content.decode()
    table = re.search(r"<h3>Consultations</h3>.*?</table>", page, re.S).group(0)
    assert question in table and "Answered" in table and "Yes, at 14:00 CET." in table
    queue = client.get(changelist_url()).content.decode()
    assert "hd-mark--consultation" not in queue
    assert "Your team was asked" not in page


def test_consult_refusals(client, vps, giulia):
    login(client, giulia)
    client.post(action_url(vps, "consult"), {"team": "sysadmin", "note": "Ideas?"})
    before = state(vps)

    again = client.post(action_url(vps, "consult"), {"team": "sysadmin", "note": "Again?"})
    empty = client.post(action_url(vps, "consult"), {"team": "billing", "note": " "})

    assert again.status_code == 409
    assert "The System administrators team has already been asked" in again.content.decode()
    assert empty.status_code == 400
    assert state(vps) == before


def test_the_queue_marks_a_ticket_waiting_for_another_teams_answer(client, vps, giulia):
    ticket_consult(ticket_id=vps.pk, actor=giulia, team="sysadmin", note="Ideas?", now=T0)
    login(client, giulia)

    html = client.get(changelist_url()).content.decode()

    assert '<span class="hd-mark hd-mark--consultation">A consultation</span>' in html
    assert listed(client, consulted="mine") == []


def test_estimate_becomes_the_target_and_is_told(client, carla, giulia, clock):
    ticket = make_ticket(
        customer=carla,
        subject="Custom firewall rule set",
        body="443 open to all, 22 only from our office.",
        category=Category.CUSTOM_CONFIG,
    )
    login(client, giulia)

    response = client.post(
        action_url(ticket, "estimate"),
        {"hours": "3", "minutes": "30", "note": "We test the rules on a copy first."},
    )

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.estimate_seconds == 3 * 3600 + 30 * 60
    notice = ticket.messages.filter(kind=Message.Kind.SYSTEM).latest("id").body
    assert "We test the rules on a copy first." in notice
    html = client.get(change_url(ticket)).content.decode()
    assert re.search(r'<dd class="hd-estimate">3 h 30 min, resolved by ', html)


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({"hours": "0", "minutes": "0"}, 400, "An estimate is at least one minute."),
        ({"hours": "", "minutes": ""}, 400, "An estimate is at least one minute."),
        ({"hours": "2161", "minutes": "0"}, 400, "Ensure this value is less than or equal to"),
        ({"hours": "2160", "minutes": "1"}, 400, "An estimate is at most 90 days."),
        ({"hours": "-1", "minutes": "0"}, 400, "Ensure this value is greater than or equal to"),
        ({"hours": "x", "minutes": "0"}, 400, "Enter a whole number."),
        ({"hours": "1", "minutes": "60"}, 400, "Ensure this value is less than or equal to 59."),
    ],
)
def test_a_refused_estimate_changes_nothing(client, vps, giulia, data, status, error):
    login(client, giulia)
    before = state(vps)

    response = client.post(action_url(vps, "estimate"), data)

    assert response.status_code == status
    assert error in response.content.decode()
    assert state(vps) == before


def test_an_estimate_on_a_resolved_ticket_is_a_conflict(client, vps, giulia):
    ticket_resolve(ticket_id=vps.pk, actor=giulia, summary="Done.", now=T0)
    login(client, giulia)
    before = state(vps)

    response = client.post(action_url(vps, "estimate"), {"hours": "1", "minutes": "0"})

    assert response.status_code == 409
    assert "This ticket is already resolved." in response.content.decode()
    assert state(vps) == before


def test_ask_for_approval_of_a_credit(client, carla, giulia, clock):
    ticket = make_ticket(customer=carla, subject="Credit", category=Category.BILLING_CREDIT)
    login(client, giulia)

    response = client.post(
        action_url(ticket, "approval"),
        {"kind": "billing_credit", "amount": "25.50", "currency": "usd", "reason": "Down 3 h."},
    )

    assert response.status_code == 302
    approval = ApprovalRequest.objects.get(ticket=ticket)
    assert (str(approval.amount), approval.currency, approval.state, approval.requested_by) == (
        "25.50",
        "USD",
        "pending",
        giulia,
    )
    ticket.refresh_from_db()
    assert ticket.status == Status.PENDING_APPROVAL
    html = client.get(change_url(ticket)).content.decode()
    table = re.search(r"<h3>Approvals</h3>.*?</table>", html, re.S).group(0)
    assert "Billing credit" in table and "25.50 USD" in table and "Pending" in table
    assert 'id="hd-action-approval"' not in html  # already waiting on a decision
    assert "This ticket waits on a decision of management" in html
    queue = client.get(changelist_url()).content.decode()
    assert '<span class="hd-mark hd-mark--approval">Management approval</span>' in queue


def test_an_amount_is_asked_for_credits_only(client, vps, giulia):
    login(client, giulia)

    client.post(
        action_url(vps, "approval"),
        {"kind": "account_exception", "amount": "10", "currency": "EUR", "reason": "Keep IP"},
    )

    approval = ApprovalRequest.objects.get(ticket=vps)
    assert (approval.kind, approval.amount, approval.currency) == ("account_exception", None, "")


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({"kind": "billing_credit", "amount": "", "reason": "Down"}, 400, "Say the amount"),
        ({"kind": "billing_credit", "amount": "0", "reason": "Down"}, 400, "more than 0"),
        ({"kind": "billing_credit", "amount": "1.234", "reason": "Down"}, 400, "2 decimal"),
        ({"kind": "billing_credit", "amount": "5", "currency": "E1", "reason": "x"}, 400, "three"),
        ({"kind": "special", "reason": " "}, 400, "This field is required."),
        ({"kind": "gift", "reason": "Nice"}, 400, "Select a valid choice."),
    ],
)
def test_a_refused_approval_request_changes_nothing(client, vps, giulia, data, status, error):
    login(client, giulia)
    before = state(vps)

    response = client.post(action_url(vps, "approval"), data)

    assert response.status_code == status
    assert error in response.content.decode()
    assert state(vps) == before


def test_a_second_approval_while_one_waits_is_a_conflict(client, vps, giulia):
    approval_request(ticket_id=vps.pk, actor=giulia, kind="special", reason="A", now=T0)
    login(client, giulia)
    before = state(vps)

    response = client.post(action_url(vps, "approval"), {"kind": "special", "reason": "B"})

    assert response.status_code == 409
    assert "This ticket already waits for a management decision." in response.content.decode()
    assert state(vps) == before


def test_user_content_in_the_escalation_sections_is_inert(client, vps, giulia, luca):
    xss = '<script>alert("x")</script>'
    ticket_consult(ticket_id=vps.pk, actor=giulia, team="sysadmin", note=xss, now=T0)
    approval_request(ticket_id=vps.pk, actor=giulia, kind="special", reason=xss, now=T0)
    login(client, luca)

    html = client.get(change_url(vps)).content.decode()

    assert xss not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


# --- The queue -----------------------------------------------------------------------------------


def run_escalate(client, tickets, **data):
    return client.post(
        changelist_url(queue="all"),
        {"action": "escalate", "_selected_action": [t.pk for t in tickets], **data},
    )


def test_bulk_escalate_asks_team_and_reason_then_reports_each_ticket(client, carla, giulia, clock):
    first = make_ticket(customer=carla, subject="first")
    second = make_ticket(customer=carla, subject="second")
    ticket_escalate(ticket_id=second.pk, actor=giulia, team="sysadmin", reason="Disk", now=T0)
    login(client, make_manager())

    page = run_escalate(client, [first, second])
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="action" value="escalate"' in html
    assert "sysadmin" in options(html, "id_team")

    refused = run_escalate(client, [first, second], apply="1", team="sysadmin", reason="")
    assert refused.status_code == 200
    assert "This field is required." in refused.content.decode()
    assert Escalation.objects.count() == 1

    response = run_escalate(
        client, [first, second], apply="1", team="sysadmin", reason="Server problems."
    )

    assert response.status_code == 302
    assert sorted(flashed(response)) == sorted(
        [
            ("success", f"{first.reference}: escalated."),
            (
                "error",
                f"{second.reference}: The System administrators team already owns this ticket.",
            ),
        ]
    )
    first.refresh_from_db()
    assert first.team.slug == "sysadmin"
    assert Escalation.objects.count() == 2


def make_manager():
    return staff("marta", "management", manager=True)


# --- Read-only history lists -------------------------------------------------------------------


def test_escalations_and_consultations_are_read_only_lists_of_visible_tickets(
    client, vps, giulia, bruno
):
    ticket_consult(ticket_id=vps.pk, actor=giulia, team="datacenter-ams", note="?", now=T0)
    ticket_assign(ticket_id=vps.pk, actor=giulia, assignee_id=None, now=T0)
    ticket_escalate(ticket_id=vps.pk, actor=giulia, team="sysadmin", reason="Disk", now=T0)

    for model in ("escalation", "consultation"):
        url = reverse(f"admin:escalation_{model}_changelist")
        login(client, giulia)
        seen = client.get(url)
        assert seen.status_code == 200 and seen.context["cl"].result_count == 1, model
        assert client.get(reverse(f"admin:escalation_{model}_add")).status_code == 403
        row = seen.context["cl"].result_list[0]
        change = reverse(f"admin:escalation_{model}_change", args=[row.pk])
        assert client.post(change, {}).status_code == 403
        assert "<textarea" not in client.get(change).content.decode()
        login(client, bruno)
        assert client.get(url).context["cl"].result_count == 0, model
        assert client.get(change).status_code == 302  # the admin's "does not exist"


# --- Queries ---------------------------------------------------------------------------------------


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_ticket_page_queries_do_not_grow_with_messages_or_escalation(
    client, carla, giulia, luca, clock
):
    def ticket_with(messages):
        ticket = make_ticket(customer=carla, category=Category.VPS)
        for index in range(messages - 1):
            ticket_reply(
                ticket_id=ticket.pk,
                author=giulia if index % 2 else carla,
                body=f"message {index}",
                channel=Channel.WEB,
                now=T0 + datetime.timedelta(seconds=index),
                internal=index % 4 == 1,
            )
        return ticket

    small, large = ticket_with(2), ticket_with(50)
    for ticket in (small, large):
        ticket_consult(ticket_id=ticket.pk, actor=giulia, team="datacenter-ams", note="?", now=T0)
        ticket_consult(ticket_id=ticket.pk, actor=giulia, team="billing", note="?", now=T0)
        ticket_escalate(ticket_id=ticket.pk, actor=giulia, team="sysadmin", reason="x", now=T0)
        ticket_escalate(ticket_id=ticket.pk, actor=luca, team="support", reason="y", now=T0)
        approval_request(ticket_id=ticket.pk, actor=giulia, kind="special", reason="z", now=T0)
    login(client, giulia)
    client.get(change_url(small))  # the routing inputs, read once per process

    assert large.messages.count() > 50 > small.messages.count()
    assert _queries(client, change_url(small)) == _queries(client, change_url(large))


def test_the_page_speaks_italian(client, vps, giulia):
    login(client, giulia)

    html = client.get(change_url(vps), HTTP_ACCEPT_LANGUAGE="it").content.decode()

    assert "Suggerito: System administrators</strong> — " in html
    assert "Passa la richiesta" in html and "Esegui l&#x27;escalation" in html
    assert "Nessuna escalation: il ticket è ancora del team da cui è partito." in html
