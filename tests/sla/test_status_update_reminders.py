"""Status updates: when one falls due, the owners of the ticket (its assignee, or its team while
nobody has taken it) are reminded by email, once per due clock."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import tasks as sla_tasks
from sla.models import Clock
from sla.services.clocks import clocks_move_team
from sla.services.sweep import status_updates_remind
from tests.factories import first_line_team, make_agent, make_team, make_ticket
from tickets.models import Channel, OutboundEmail
from usecases.tickets import ticket_assign, ticket_reply

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
SECOND = datetime.timedelta(seconds=1)
DUE = T0 + 4 * HOUR  # API.md: an update every 4 h of the owning team's working time (L1: 24/7)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def support():
    return first_line_team()


def reminders() -> list[tuple[str, str]]:
    return sorted(
        OutboundEmail.objects.filter(purpose="status_update_due").values_list("to", "subject")
    )


def remind_at(clock, when: datetime.datetime) -> int:
    clock.move_to(when)
    return status_updates_remind(now=when)


def test_the_assignee_is_reminded_once_when_the_update_falls_due(clock, support):
    alice = make_agent(username="alice", teams=(support,))
    make_agent(username="bob", teams=(support,))
    ticket = make_ticket(now=T0)
    ticket_assign(ticket_id=ticket.pk, actor=alice, assignee_id=None, now=T0)

    assert remind_at(clock, DUE - SECOND) == 0
    assert reminders() == []
    assert remind_at(clock, DUE) == 1
    assert reminders() == [("alice@example.com", f"[SLA] {ticket.reference}: status update due")]
    email = OutboundEmail.objects.get(purpose="status_update_due")
    assert email.ticket_id == ticket.pk
    assert ticket.reference in email.body_text
    assert f"/admin/tickets/ticket/{ticket.pk}/change/" in email.body_text

    # Later sweeps, and a sweep that overlaps, find nothing left to remind.
    assert remind_at(clock, DUE + SECOND) == 0
    assert remind_at(clock, DUE + 3 * HOUR) == 0
    assert len(reminders()) == 1
    assert Clock.objects.get(ticket=ticket, metric="status_update").reminded_at == DUE


def test_an_unassigned_ticket_reminds_its_reachable_team(clock, support):
    make_agent(username="alice", teams=(support,))
    make_agent(username="bob", teams=(support,))
    gone = make_agent(username="gone", teams=(support,))
    gone.is_active = False
    gone.save()
    no_mail = make_agent(username="nomail", teams=(support,))
    no_mail.email = ""
    no_mail.save()
    make_agent(username="bruno", teams=(make_team(slug="billing", tier=2),))
    make_ticket(now=T0)

    assert remind_at(clock, DUE) == 1

    assert [to for to, _subject in reminders()] == ["alice@example.com", "bob@example.com"]


def test_a_public_reply_is_the_update_and_the_next_one_is_reminded_later(clock, support):
    alice = make_agent(username="alice", teams=(support,))
    ticket = make_ticket(now=T0)
    clock.move_to(T0 + 3 * HOUR)
    ticket_reply(
        ticket_id=ticket.pk,
        author=alice,
        body="We are on it.",
        channel=Channel.WEB,
        now=T0 + 3 * HOUR,
    )

    assert remind_at(clock, DUE) == 0
    assert remind_at(clock, T0 + 7 * HOUR - SECOND) == 0
    assert remind_at(clock, T0 + 7 * HOUR) == 1
    assert len(reminders()) == 1


def test_no_reminder_while_the_ticket_waits_on_the_customer(clock, support):
    alice = make_agent(username="alice", teams=(support,))
    ticket = make_ticket(now=T0)
    clock.move_to(T0 + HOUR)
    ticket_reply(
        ticket_id=ticket.pk,
        author=alice,
        body="Which server is it?",
        channel=Channel.WEB,
        now=T0 + HOUR,
        wait_on_customer=True,
    )

    assert remind_at(clock, T0 + 24 * HOUR) == 0
    assert reminders() == []


def test_a_team_on_working_hours_is_reminded_after_four_working_hours(clock, support):
    """Status updates run on the owning team's time: the billing team works 09:00-18:00."""
    billing = make_team(
        slug="billing",
        tier=2,
        hours=tuple((day, datetime.time(9), datetime.time(18)) for day in range(5)),
    )
    make_agent(username="bruno", teams=(billing,))
    ticket = make_ticket(now=T0)
    ticket.team = billing
    ticket.save(update_fields=["team"])
    clocks_move_team(ticket=ticket, team=billing, now=T0)
    # 10:00 + 4 working hours = 14:00 the same Monday.
    assert remind_at(clock, T0 + 4 * HOUR - SECOND) == 0
    assert remind_at(clock, T0 + 4 * HOUR) == 1
    assert [to for to, _subject in reminders()] == ["bruno@example.com"]


def test_the_beat_sweep_sends_the_reminders(clock, support):
    make_agent(username="alice", teams=(support,))
    make_ticket(now=T0)
    clock.move_to(DUE)

    result = sla_tasks.sweep()

    assert result["status_updates_reminded"] == 1
    assert sla_tasks.sweep()["status_updates_reminded"] == 0
    assert len(reminders()) == 1


def test_reading_the_due_clocks_and_their_owners_does_not_grow_with_them(clock, support):
    make_agent(username="alice", teams=(support,))
    make_agent(username="bob", teams=(support,))
    carla = make_agent(username="carla", teams=(support,))

    def reads(tickets: int, at: datetime.datetime) -> int:
        clock.move_to(at - 4 * HOUR)
        for n in range(tickets):
            ticket = make_ticket(now=at - 4 * HOUR)
            if n % 2:
                ticket_assign(ticket_id=ticket.pk, actor=carla, assignee_id=None, now=at)
        clock.move_to(at)
        with CaptureQueriesContext(connection) as queries:
            assert status_updates_remind(now=at) == tickets
        return len([q for q in queries if not q["sql"].startswith("INSERT")])

    assert reads(2, DUE) == reads(6, DUE + 24 * HOUR)
