"""`seed_demo`: on an empty database, a first look at every team, channel and kind of request of
the support guide, escalation included; on a database with tickets, nothing."""

import datetime
import io
from decimal import Decimal

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from accounts.roles import Role, user_role
from escalation.models import ApprovalRequest, Consultation, Escalation, RoutingRule
from helpdesk.demo import CUSTOMERS, DEMO_LOGINS, STAFF, STORIES, demo_seed
from incidents.models import Incident, IncidentLink
from teams.models import Team, TeamMembership
from tests.factories import make_ticket
from tickets.models import Channel, Event, Message, OutboundEmail, Status, Ticket

User = get_user_model()
NOW = datetime.datetime(2026, 11, 20, 10, 30, tzinfo=datetime.UTC)
TEAMS = ("support", "billing", "datacenter-ams", "datacenter-mia", "sysadmin")

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    return {
        "users": list(User.objects.order_by("pk").values_list("pk", "username", "password")),
        "tickets": list(Ticket.objects.order_by("pk").values_list("pk", "status", "updated_at")),
        "messages": Message.objects.count(),
        "events": Event.objects.count(),
        "memberships": TeamMembership.objects.count(),
        "teams": Team.objects.count(),
        "escalations": Escalation.objects.count(),
        "consultations": Consultation.objects.count(),
        "approvals": ApprovalRequest.objects.count(),
    }


def test_seed_demo_creates_people_in_every_role_and_team():
    output = seed()

    customers = User.objects.filter(username__in=[c.username for c in CUSTOMERS])
    assert customers.count() == len(CUSTOMERS) >= 4
    assert {user_role(c) for c in customers} == {Role.CUSTOMER}
    assert {c.customer_profile.language for c in customers} == {"it", "en"}
    assert all(c.customer_profile.company for c in customers)
    for slug in TEAMS:
        members = User.objects.filter(team_memberships__team__slug=slug)
        assert members.exists(), slug
        assert {user_role(m) for m in members} == {Role.AGENT}, slug
    manager = User.objects.get(team_memberships__team__slug="management")
    assert user_role(manager) == Role.MANAGER
    assert User.objects.filter(is_superuser=True).count() == 1

    for login in DEMO_LOGINS:
        user = authenticate(username=login.username, password=login.password)
        assert user is not None, login
        assert user_role(user) == login.role
        assert f"{login.username} / {login.password}" in output
    assert len(STAFF) >= len(TEAMS) + 1


def test_seed_demo_opens_tickets_in_every_channel_with_conversations():
    demo_seed(now=NOW)

    tickets = Ticket.objects.all()
    assert tickets.count() == len(STORIES)
    assert set(tickets.values_list("channel", flat=True)) == set(Channel.values)
    assert {"billing", "vps", "custom_config", "billing_credit", "datacenter"} <= set(
        tickets.values_list("category", flat=True)
    )
    assert tickets.get(data_center="ams").category == "datacenter"
    # A closed story, conversations under way, and requests just in, still waiting for a person.
    assert {Status.CLOSED, Status.OPEN, Status.NEW} <= set(tickets.values_list("status", flat=True))
    for ticket in tickets:
        kinds = set(ticket.messages.values_list("kind", flat=True))
        assert Message.Kind.CUSTOMER in kinds, ticket
        if ticket.status != Status.NEW:
            assert {Message.Kind.AGENT, Message.Kind.SYSTEM} <= kinds, ticket
    assert Message.objects.filter(kind=Message.Kind.INTERNAL).exists()
    # Both languages are spoken, each to its customer.
    assert tickets.filter(customer__customer_profile__language="it").exists()
    assert tickets.filter(customer__customer_profile__language="en").exists()
    # Everything happened before `now`, the newest a minute ago.
    assert max(Message.objects.values_list("created_at", flat=True)) <= NOW
    assert tickets.order_by("-created_at")[0].created_at == NOW - datetime.timedelta(minutes=1)


def test_seed_demo_tells_the_escalation_stories_through_the_use_cases():
    demo_seed(now=NOW)

    # Set up whole: the guide's routing rules suggest where each request belongs.
    assert RoutingRule.objects.filter(team__slug="sysadmin").exists()
    # The slow VPS: L1's checks, then the system administrators, the customer told why.
    vps = Ticket.objects.get(subject="My VPS is running slowly")
    assert vps.team.slug == "sysadmin" and vps.assignee.username == "luca"
    escalation = Escalation.objects.get(ticket=vps)
    assert (escalation.from_team.slug, escalation.kind, escalation.by.username) == (
        "support",
        "agent",
        "tom",
    )
    notice = vps.messages.filter(kind=Message.Kind.SYSTEM, created_at=escalation.at).get()
    assert "passed to our System administrators team" in notice.body
    assert "Why: your VPS is waiting on the disks" in notice.body
    assert OutboundEmail.objects.filter(message=notice, to=vps.customer.email).exists()

    # The disk in Amsterdam: the first line keeps it and asks the data center, who answers.
    disk = Ticket.objects.get(data_center="ams")
    assert disk.team.slug == "support"
    consultation = Consultation.objects.get(ticket=disk)
    assert (consultation.team.slug, consultation.asked_by.username) == ("datacenter-ams", "giulia")
    assert (consultation.state, consultation.answered_by.username) == ("answered", "sanne")
    assert "14:00 CET" in consultation.answer.body
    assert consultation.answer.kind == Message.Kind.INTERNAL

    # The credit for the outage waits on management, its clocks paused.
    credit = Ticket.objects.get(subject="Service credit for the outage of 18 November")
    assert credit.status == Status.PENDING_APPROVAL
    approval = ApprovalRequest.objects.get(ticket=credit)
    assert (approval.kind, approval.amount, approval.currency, approval.state) == (
        "billing_credit",
        Decimal("44.90"),
        "USD",
        "pending",
    )
    assert approval.requested_by.username == "tom"
    assert credit.messages.filter(
        kind=Message.Kind.SYSTEM, body__contains="a billing credit of 44.90 USD"
    ).exists()

    # The custom firewall rule set: with the system administrators, who give an estimate,
    # told to the customer in Italian.
    firewall = Ticket.objects.get(subject="Regole firewall personalizzate per il VPS")
    assert firewall.team.slug == "sysadmin" and firewall.estimate_seconds == 2 * 3600
    assert firewall.messages.filter(
        kind=Message.Kind.SYSTEM, body__contains="amministratori di sistema"
    ).exists()
    assert firewall.messages.filter(
        kind=Message.Kind.SYSTEM, body__contains="non è standard"
    ).exists()


def test_seed_demo_tells_an_outage_open_now_and_one_resolved_weeks_ago():
    demo_seed(now=NOW)
    resolved, live = Incident.objects.order_by("started_at")
    assert (resolved.status, live.status) == ("resolved", "identified")
    assert resolved.updates.count() == 3 and live.updates.count() == 2
    # Emily wrote before the incident was opened: linked by its lead, and she heard both
    # updates. James wrote after: linked on arrival, told in his acknowledgement.
    emily = Ticket.objects.get(subject="Packet loss to our servers in Miami")
    james = Ticket.objects.get(subject="Backup server in Miami unreachable")
    assert set(IncidentLink.objects.values_list("ticket_id", "incident_id")) == {
        (emily.pk, live.pk),
        (james.pk, live.pk),
    }
    assert emily.messages.filter(body__contains="faulty line card").count() == 1
    acknowledgement = james.messages.filter(kind=Message.Kind.SYSTEM).earliest("id")
    assert "We already know about this problem" in acknowledgement.body
    assert "core routers" in acknowledgement.body
    assert james.messages.filter(body__contains="faulty line card").count() == 1


def test_seed_demo_a_second_time_changes_nothing():
    seed()
    before = snapshot()

    assert demo_seed(now=NOW + datetime.timedelta(hours=1)) is None
    output = seed()

    assert "already has tickets" in output
    assert snapshot() == before


def test_seed_demo_leaves_a_database_with_tickets_alone():
    make_ticket()
    before = snapshot()

    output = seed()

    assert "already has tickets" in output
    assert snapshot() == before
    assert not User.objects.filter(username__in=[login.username for login in DEMO_LOGINS]).exists()
