"""The overflow of the first line (the guide: at high volume, requests go straight to the
experts available): measured by the beat, with hysteresis; a request that a rule marks as
specialist work then goes to that team while it is at work."""

import datetime

import pytest
import time_machine

from escalation.models import Escalation, OverflowPeriod, OverflowPolicy
from escalation.tasks import overflow_measure
from tests import factories
from tickets.models import Category, Message
from usecases.setup import support_setup
from usecases.tickets import ticket_reply

MONDAY_11 = datetime.datetime(2026, 3, 2, 11, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def guide(structure):
    support_setup(now=MONDAY_11)
    OverflowPolicy.objects.update_or_create(
        pk=1,
        defaults={
            "enabled": True,
            "start_unanswered": 3,
            "start_wait_seconds": 3600,
            "stop_unanswered": 1,
            "stop_wait_seconds": 1800,
        },
    )


def waiting(count, customer):
    return [
        factories.make_ticket(
            customer=customer, subject="Cannot log in", category=Category.ACCESS, now=MONDAY_11
        )
        for _ in range(count)
    ]


def measure(at=MONDAY_11):
    with time_machine.travel(at, tick=False):
        return overflow_measure()


def vps(customer, at=MONDAY_11):
    with time_machine.travel(at, tick=False):
        return factories.make_ticket(
            customer=customer, subject="My VPS is slow", category=Category.VPS, now=at
        )


def test_above_the_threshold_specialist_work_goes_straight_to_the_team_at_work(customer_a):
    waiting(3, customer_a)

    assert measure() is True
    ticket = vps(customer_a)

    assert ticket.team.slug == "sysadmin"
    escalation = Escalation.objects.get(ticket=ticket)
    assert (escalation.kind, escalation.from_team.slug) == ("overflow", "support")
    notice = ticket.messages.filter(kind=Message.Kind.SYSTEM).latest("id").body
    assert "Our support team has many requests right now" in notice
    assert OverflowPeriod.objects.get().routed == 1


def test_below_the_threshold_nothing_moves(customer_a):
    waiting(2, customer_a)

    assert measure() is False
    assert vps(customer_a).team.slug == "support"
    assert not Escalation.objects.exists()


def test_out_of_the_teams_hours_the_first_line_keeps_it_even_at_high_load(customer_a):
    waiting(3, customer_a)
    sunday = MONDAY_11 - datetime.timedelta(days=1)
    measure(sunday)

    assert vps(customer_a, at=sunday).team.slug == "support"


def test_the_overflow_stops_only_below_its_lower_threshold(customer_a, agent):
    queue = waiting(3, customer_a)
    assert measure() is True

    ticket_reply(ticket_id=queue[0].pk, author=agent, body="Hi", channel="web", now=MONDAY_11)
    assert measure() is True  # two waiting: between the thresholds, it holds
    ticket_reply(ticket_id=queue[1].pk, author=agent, body="Hi", channel="web", now=MONDAY_11)
    assert measure() is False  # one waiting: stopped

    period = OverflowPeriod.objects.get()
    assert period.ended_at == MONDAY_11
    assert period.peak_unanswered == 3


def test_a_disabled_policy_never_overflows(customer_a):
    OverflowPolicy.objects.filter(pk=1).update(enabled=False)
    waiting(5, customer_a)

    assert measure() is False
    assert vps(customer_a).team.slug == "support"
