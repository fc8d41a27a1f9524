"""A team left without working hours: its calendar never opens, so a deadline on it would never
come (`AlwaysClosedError`). Its clocks run on the wall clock instead, with a warning in the log,
and no ticket fails to open, pause, resume or move because of it."""

import datetime
import logging

import pytest
import time_machine

from sla.models import Clock
from sla.services.clocks import clocks_move_team
from tests.factories import make_agent, make_team, make_ticket
from tickets.models import Category, Channel, Status
from usecases.tickets import ticket_reply

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)  # a Monday
HOUR = datetime.timedelta(hours=1)
WEEKDAYS_9_TO_17 = tuple((day, datetime.time(9), datetime.time(17)) for day in range(5))


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def due(ticket, metric: str) -> datetime.datetime:
    return Clock.objects.get(
        ticket=ticket, metric=metric, met_at__isnull=True, cancelled_at__isnull=True
    ).due_at


def test_a_ticket_opens_on_a_first_line_without_hours(clock, caplog):
    make_team(hours=())

    with caplog.at_level(logging.WARNING, logger="sla.services"):
        ticket = make_ticket(now=T0, category=Category.VPS)

    assert ticket.status == Status.NEW
    assert due(ticket, "first_response") == T0 + datetime.timedelta(minutes=10)
    assert due(ticket, "status_update") == T0 + 4 * HOUR
    assert due(ticket, "resolution") == T0 + 2 * HOUR
    assert "team support has no working hours" in caplog.text


def test_pause_and_resume_count_the_wall_clock_too(clock):
    support = make_team(hours=())
    agent = make_agent(teams=(support,))
    ticket = make_ticket(now=T0, category=Category.VPS)

    clock.move_to(T0 + HOUR)
    ticket_reply(
        ticket_id=ticket.pk,
        author=agent,
        body="Which server?",
        channel=Channel.WEB,
        now=T0 + HOUR,
        wait_on_customer=True,
    )
    resolution = Clock.objects.get(ticket=ticket, metric="resolution")
    assert resolution.remaining_seconds == 3600  # two hours' target, one gone

    clock.move_to(T0 + 5 * HOUR)
    ticket_reply(
        ticket_id=ticket.pk,
        author=ticket.customer,
        body="srv-42",
        channel=Channel.WEB,
        now=T0 + 5 * HOUR,
    )
    assert due(ticket, "resolution") == T0 + 6 * HOUR


def test_moving_to_and_from_a_team_without_hours(clock):
    make_team()  # the first line, 24/7
    closed = make_team(slug="nightshift", tier=2, hours=())
    day_team = make_team(slug="sysadmin", tier=3, hours=WEEKDAYS_9_TO_17)
    ticket = make_ticket(now=T0, category=Category.CUSTOM_CONFIG)  # 8 h, due 18:00
    assert due(ticket, "resolution") == T0 + 8 * HOUR

    # To the team without hours at 11:00: the seven hours left run on the wall clock.
    clock.move_to(T0 + HOUR)
    clocks_move_team(ticket=ticket, team=closed, now=T0 + HOUR)
    assert due(ticket, "resolution") == T0 + 8 * HOUR

    # On to a team that works 09:00-17:00 at 12:00: six hours left of its working time are
    # five on Monday and one on Tuesday morning.
    clock.move_to(T0 + 2 * HOUR)
    clocks_move_team(ticket=ticket, team=day_team, now=T0 + 2 * HOUR)
    assert due(ticket, "resolution") == datetime.datetime(2026, 3, 3, 10, 0, tzinfo=datetime.UTC)
    resolution = Clock.objects.get(ticket=ticket, metric="resolution")
    assert resolution.team_id == day_team.pk
