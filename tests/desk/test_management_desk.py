"""Escalation's management pages in the desk: the queue of approval requests and their decision
(approval_decide), the routing rules (edited by managers, who and when recorded), the overflow
policy (one row) and its periods."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalation.models import ApprovalRequest, OverflowPeriod, OverflowPolicy, RoutingRule
from tests.desk.conftest import T0, flashed, login, staff
from tests.factories import make_customer, make_ticket
from tickets.models import Category, Message, Status
from usecases.escalation import approval_decide, approval_request

pytestmark = pytest.mark.django_db
QUEUE = reverse("admin:escalation_approvalrequest_changelist")
RULES = reverse("admin:escalation_routingrule_changelist")
ADD_RULE = reverse("admin:escalation_routingrule_add")
POLICY = reverse("admin:escalation_overflowpolicy_change", args=[1])


@pytest.fixture
def people(teams):
    return {
        "giulia": staff("giulia", "support"),
        "bruno": staff("bruno", "billing"),
        "laura": staff("laura", "management", manager=True),
        "paolo": staff("paolo", "management", manager=True),
    }


def credit(*, asked_by, at, subject="Credit for the outage", amount="25.00"):
    ticket = make_ticket(
        customer=make_customer(), subject=subject, category=Category.BILLING_CREDIT, now=at
    )
    return approval_request(
        ticket_id=ticket.pk,
        actor=asked_by,
        kind="billing_credit",
        amount=amount,
        reason="Down 3 hours",
        now=at,
    )


def page(approval) -> str:
    return reverse("admin:escalation_approvalrequest_change", args=[approval.pk])


def unchanged(approval) -> tuple:
    approval.refresh_from_db()
    approval.ticket.refresh_from_db()
    return (
        approval.state,
        approval.decided_by_id,
        approval.ticket.status,
        approval.ticket.messages.count(),
    )


# --- The management queue ------------------------------------------------------------------------


def test_pending_requests_come_first_the_oldest_on_top(client, clock, people):
    hour = datetime.timedelta(hours=1)
    decided_early = credit(asked_by=people["giulia"], at=T0 - 5 * hour, subject="decided early")
    credit(asked_by=people["giulia"], at=T0 - hour, subject="newer")
    credit(asked_by=people["giulia"], at=T0 - 2 * hour, subject="older")
    decided_late = credit(asked_by=people["giulia"], at=T0 - 4 * hour, subject="decided late")
    for approval, at in ((decided_early, T0 - 3 * hour), (decided_late, T0 - hour)):
        approval_decide(
            approval_id=approval.pk, actor=people["laura"], decision="reject", note="", now=at
        )
    login(client, people["laura"])

    response = client.get(QUEUE)

    assert response.status_code == 200
    rows = [a.ticket.subject for a in response.context["cl"].result_list]
    assert rows == ["older", "newer", "decided late", "decided early"]
    html = response.content.decode()
    assert "Management queue: approval requests" in html
    assert "Pending for 2 h" in html and "25.00 EUR" in html


def test_a_manager_approves_with_a_note_the_customer_reads(client, clock, people):
    approval = credit(asked_by=people["giulia"], at=T0)
    login(client, people["laura"])

    html = client.get(page(approval)).content.decode()
    assert 'name="decision" value="approve"' in html and 'name="decision" value="reject"' in html
    response = client.post(
        page(approval), {"decision": "approve", "note": "Credited on the next invoice."}
    )

    assert response.status_code == 302 and response["Location"] == QUEUE
    assert flashed(response) == [
        ("success", f"{approval.ticket.reference}: approved; the customer has been told.")
    ]
    approval.refresh_from_db()
    assert (approval.state, approval.decided_by, approval.note) == (
        "approved",
        people["laura"],
        "Credited on the next invoice.",
    )
    ticket = approval.ticket
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    notice = ticket.messages.filter(kind=Message.Kind.SYSTEM).latest("id").body
    assert "Our management has approved" in notice and "Credited on the next invoice." in notice

    # Decided: read-only; a second decision is a conflict and changes nothing.
    html = client.get(page(approval)).content.decode()
    assert "This request has ended; it can no longer be changed." in html
    assert 'value="approve"' not in html
    login(client, people["paolo"])
    before = unchanged(approval)
    again = client.post(page(approval), {"decision": "reject", "note": ""})
    assert again.status_code == 409
    assert "This request was already decided (Approved)." in again.content.decode()
    assert unchanged(approval) == before


def test_a_manager_rejects(client, clock, people):
    approval = credit(asked_by=people["giulia"], at=T0)
    login(client, people["laura"])

    response = client.post(page(approval), {"decision": "reject", "note": "Outside the SLA."})

    assert response.status_code == 302
    approval.refresh_from_db()
    assert approval.state == "rejected"
    notice = approval.ticket.messages.filter(kind=Message.Kind.SYSTEM).latest("id").body
    assert "could not approve" in notice and "Outside the SLA." in notice


def test_an_agent_sees_the_request_of_their_ticket_but_cannot_decide(client, clock, people):
    approval = credit(asked_by=people["giulia"], at=T0)
    login(client, people["giulia"])

    assert client.get(QUEUE).context["cl"].result_count == 1
    html = client.get(page(approval)).content.decode()
    assert "Only managers decide approvals." in html
    assert 'value="approve"' not in html
    before = unchanged(approval)

    response = client.post(page(approval), {"decision": "approve", "note": ""})

    assert response.status_code == 403
    assert "Only managers decide approvals." in response.content.decode()
    assert unchanged(approval) == before


def test_an_agent_of_another_team_neither_lists_nor_opens_it(client, clock, people):
    approval = credit(asked_by=people["giulia"], at=T0)
    login(client, people["bruno"])

    assert client.get(QUEUE).context["cl"].result_count == 0
    assert client.get(page(approval)).status_code == 404
    assert client.post(page(approval), {"decision": "approve"}).status_code == 404
    for odd in ("x", "9" * 30, "-1"):
        url = f"/admin/escalation/approvalrequest/{odd}/change/"
        assert client.get(url).status_code == 404


def test_the_requester_cannot_decide_and_the_page_says_why(client, clock, people):
    approval = credit(asked_by=people["laura"], at=T0)
    login(client, people["laura"])

    html = client.get(page(approval)).content.decode()
    assert "You asked for this approval: another manager decides it" in html
    assert 'value="approve"' not in html
    before = unchanged(approval)

    response = client.post(page(approval), {"decision": "approve", "note": ""})

    assert response.status_code == 403
    assert "A manager never decides their own request." in response.content.decode()
    assert unchanged(approval) == before


def test_who_asked_may_withdraw(client, clock, people):
    approval = credit(asked_by=people["giulia"], at=T0)
    login(client, people["giulia"])
    assert 'value="withdraw"' in client.get(page(approval)).content.decode()

    response = client.post(page(approval), {"decision": "withdraw"})

    assert response.status_code == 302
    approval.refresh_from_db()
    assert approval.state == "withdrawn" and approval.decided_by is None
    approval.ticket.refresh_from_db()
    assert approval.ticket.status == Status.OPEN


def test_a_bad_decision_is_refused(client, clock, people):
    approval = credit(asked_by=people["giulia"], at=T0)
    login(client, people["laura"])
    before = unchanged(approval)

    response = client.post(page(approval), {"decision": "maybe"})

    assert response.status_code == 400
    assert unchanged(approval) == before


def test_the_queue_costs_the_same_queries_for_3_and_30_requests(client, clock, people):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(QUEUE).status_code == 200
        return len(captured)

    for index in range(3):
        credit(asked_by=people["giulia"], at=T0 - datetime.timedelta(minutes=index))
    login(client, people["laura"])
    few = queries()
    for index in range(27):
        approval = credit(asked_by=people["giulia"], at=T0 - datetime.timedelta(hours=index))
        if index % 3 == 0:
            approval_decide(
                approval_id=approval.pk, actor=people["paolo"], decision="approve", note="", now=T0
            )

    assert ApprovalRequest.objects.count() == 30
    assert queries() == few
    login(client, people["giulia"])
    agent_few = queries()
    assert agent_few == queries()


# --- Routing rules -------------------------------------------------------------------------------


def rule_data(**fields) -> dict:
    return {
        "position": "5",
        "name": "Mail server problems",
        "active": "on",
        "categories": ["vps", "dedicated"],
        "words": "postfix\n  \n dovecot ",
        "sites": ["ams"],
        "target": "team",
        "team": "",
        "approval_kind": "",
        "reason": "server",
        **fields,
    }


def test_a_manager_adds_a_rule_and_who_and_when_are_recorded(client, clock, people, teams):
    login(client, people["laura"])
    form = client.get(ADD_RULE).content.decode()
    assert re.search(r'<input type="checkbox" name="categories" value="vps"', form)
    assert re.search(r'<input type="checkbox" name="sites" value="ams"', form)
    assert re.search(r'<input type="checkbox" name="sites" value="mia"', form)

    response = client.post(ADD_RULE, rule_data(team=teams["sysadmin"].pk))

    assert response.status_code == 302
    rule = RoutingRule.objects.get(name="Mail server problems")
    assert (rule.categories, rule.words, rule.sites, rule.team.slug) == (
        ["vps", "dedicated"],
        "postfix\ndovecot",
        ["ams"],
        "sysadmin",
    )
    assert (rule.changed_by, rule.changed_at) == (people["laura"], T0)


def test_positions_are_edited_in_the_list(client, clock, people):
    rules = list(RoutingRule.objects.order_by("position", "id"))
    last = rules[-1]
    login(client, people["paolo"])
    listed = client.get(RULES).context["cl"].result_list
    assert [r.pk for r in listed] == [r.pk for r in rules]
    data = {
        "form-TOTAL_FORMS": str(len(rules)),
        "form-INITIAL_FORMS": str(len(rules)),
        "_save": "Save",
    }
    for index, rule in enumerate(rules):
        data[f"form-{index}-id"] = str(rule.pk)
        data[f"form-{index}-position"] = "1" if rule == last else str(rule.position)
    clock.shift(datetime.timedelta(minutes=5))

    response = client.post(RULES, data)

    assert response.status_code == 302
    last.refresh_from_db()
    assert (last.position, last.changed_by, last.changed_at) == (
        1,
        people["paolo"],
        T0 + datetime.timedelta(minutes=5),
    )
    assert client.get(RULES).context["cl"].result_list[0].pk == last.pk
    # The rows left alone keep their history.
    assert RoutingRule.objects.exclude(pk=last.pk).filter(changed_by__isnull=False).count() == 0


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"target": "team"}, "team", "Choose the team this rule sends requests to."),
        ({"target": "team", "team": "support"}, "team", "The first line reads every new request"),
        ({"target": "site_datacenter", "team": "sysadmin"}, "team", "Leave the team empty: the"),
        (
            {"target": "approval", "approval_kind": "special", "team": "sysadmin"},
            "team",
            "Leave the team empty: management decides an approval.",
        ),
        ({"target": "approval"}, "approval_kind", "Choose what management is asked to approve."),
        (
            {"target": "team", "team": "sysadmin", "approval_kind": "special"},
            "approval_kind",
            "Only a rule that asks management for approval names what to approve.",
        ),
        ({"categories": ["spaceships"], "team": "sysadmin"}, "categories", "Select a valid"),
        ({"sites": ["xyz"], "team": "sysadmin"}, "sites", "Select a valid choice."),
        ({"team": "management"}, "team", "Select a valid choice."),
        ({"name": "", "team": "sysadmin"}, "name", "This field is required."),
    ],
)
def test_a_rule_that_breaks_a_constraint_is_refused_with_a_clear_message(
    client, clock, people, teams, fields, field, message
):
    if "team" in fields and fields["team"] in teams:
        fields = {**fields, "team": teams[fields["team"]].pk}
    login(client, people["laura"])
    before = RoutingRule.objects.count()

    response = client.post(ADD_RULE, rule_data(**fields))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert "violated" not in response.content.decode()
    assert RoutingRule.objects.count() == before


def test_agents_read_the_rules_but_do_not_edit_them(client, clock, people):
    rule = RoutingRule.objects.first()
    login(client, people["giulia"])

    assert client.get(RULES).status_code == 200
    assert client.get(ADD_RULE).status_code == 403
    change = reverse("admin:escalation_routingrule_change", args=[rule.pk])
    assert client.get(change).status_code == 200
    assert client.post(change, rule_data(team="")).status_code == 403
    delete = reverse("admin:escalation_routingrule_delete", args=[rule.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert RoutingRule.objects.filter(pk=rule.pk, changed_by__isnull=True).exists()


def test_the_rules_list_costs_the_same_queries_with_more_rules(client, clock, people, teams):
    login(client, people["laura"])

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(RULES).status_code == 200
        return len(captured)

    few = queries()
    for index in range(10):
        RoutingRule.objects.create(
            name=f"rule {index}",
            target="team",
            team=teams["billing"],
            reason="billing",
            changed_by=people["paolo"],
        )
    assert queries() == few


# --- The overflow policy ---------------------------------------------------------------------------


def policy_data(**fields) -> dict:
    return {
        "enabled": "on",
        "start_unanswered": "20",
        "start_wait_seconds": "600",
        "stop_unanswered": "10",
        "stop_wait_seconds": "240",
        **fields,
    }


def test_the_overflow_policy_is_one_row_that_managers_edit(client, clock, people):
    login(client, people["laura"])

    listing = client.get(reverse("admin:escalation_overflowpolicy_changelist"))
    assert listing.status_code == 302 and listing["Location"] == POLICY
    html = client.get(POLICY).content.decode()
    assert "Switched off: every new request starts with the first line." in html
    assert "1 waiting for a first reply" not in html
    assert client.get(reverse("admin:escalation_overflowpolicy_add")).status_code == 403
    delete = reverse("admin:escalation_overflowpolicy_delete", args=[1])
    assert client.post(delete, {"post": "yes"}).status_code == 403

    # The sweep starts an overflow while the manager edits the thresholds: it stays started.
    OverflowPolicy.objects.filter(pk=1).update(active_since=T0)
    response = client.post(POLICY, policy_data())

    assert response.status_code == 302 and response["Location"] == POLICY
    policy = OverflowPolicy.objects.get()
    assert (policy.enabled, policy.start_unanswered, policy.stop_wait_seconds) == (True, 20, 240)
    assert (policy.changed_by, policy.changed_at, policy.active_since) == (
        people["laura"],
        T0,
        T0,
    )
    assert "Overflowing since 2026-03-02 10:00" in client.get(POLICY).content.decode()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"stop_unanswered": "20"},
            "stop_unanswered",
            "The overflow stops below where it starts: fewer than 20 requests.",
        ),
        (
            {"stop_wait_seconds": "900"},
            "stop_wait_seconds",
            "The overflow stops below where it starts: less than 600 seconds.",
        ),
        ({"start_unanswered": "-1"}, "start_unanswered", "greater than or equal to 0"),
    ],
)
def test_thresholds_that_cannot_work_are_refused(client, clock, people, fields, field, message):
    login(client, people["laura"])
    client.get(reverse("admin:escalation_overflowpolicy_changelist"))

    response = client.post(POLICY, policy_data(**fields))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field]), errors
    assert OverflowPolicy.objects.get().changed_by is None


def test_agents_read_the_overflow_policy_and_periods(client, clock, people):
    OverflowPolicy.objects.create(pk=1)
    OverflowPeriod.objects.create(
        started_at=T0 - datetime.timedelta(hours=2),
        ended_at=T0 - datetime.timedelta(hours=1),
        peak_unanswered=22,
        peak_wait_seconds=540,
        routed=7,
    )
    login(client, people["giulia"])

    assert client.get(POLICY).status_code == 200
    assert client.post(POLICY, policy_data()).status_code == 403
    assert OverflowPolicy.objects.get().enabled is False
    periods = client.get(reverse("admin:escalation_overflowperiod_changelist"))
    assert periods.status_code == 200
    html = periods.content.decode()
    assert "1 h" in html and "9 min" in html and ">7<" in html
    period = OverflowPeriod.objects.get()
    change = reverse("admin:escalation_overflowperiod_change", args=[period.pk])
    assert client.post(change, {}).status_code == 403
    assert client.get(reverse("admin:escalation_overflowperiod_add")).status_code == 403


def test_the_index_lists_the_escalation_pages(client, people):
    login(client, people["laura"])
    html = client.get(reverse("admin:index")).content.decode()
    for model in ("approvalrequest", "routingrule", "overflowpolicy", "escalation"):
        assert reverse(f"admin:escalation_{model}_changelist") in html
