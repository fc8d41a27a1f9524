"""Deadlines end to end: a ticket goes through the product's services on the real support
structure, the clock is moved with time-machine, and the sweep task runs at the moved time.

Every deadline is checked at its boundary: one second before it the sweep records nothing, at
it the breach is recorded once (a later sweep adds nothing) and the customer gets one delay
notice. The pure arithmetic is tested in test_calendar.py; here the teams come from
`support_structure_setup`, the holidays from the database and the due times from the services.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from jobs import tasks as sla_tasks
from sla.models import Breach, Clock
from sla.policy import Metric
from sla.services import clocks as sla_clocks
from teams.models import Holiday, Team
from teams.services import support_structure_setup
from tests.factories import make_agent, make_customer
from tickets.models import Category, Channel, Message, OutboundEmail, Status, Ticket
from usecases.tickets import ticket_open, ticket_reply, ticket_resolve

pytestmark = pytest.mark.django_db

UTC = dt.UTC
CET = ZoneInfo("CET")  # billing's zone, as the support structure sets it up
NEW_YORK = ZoneInfo("America/New_York")
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


def at(zone: ZoneInfo, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone)


@pytest.fixture
def teams() -> dict[str, Team]:
    support_structure_setup()
    return {team.slug: team for team in Team.objects.all()}


@pytest.fixture
def first_line_agent(teams):
    return make_agent(teams=(teams["support"],))


def open_ticket(*, when: dt.datetime, category: str, **fields) -> Ticket:
    """A customer opens a ticket; the worker acknowledges it at once (the on-commit task)."""
    with time_machine.travel(when, tick=False):
        ticket = ticket_open(
            customer=make_customer(),
            subject="Help",
            body="Please look into it.",
            category=category,
            channel=Channel.WEB,
            now=timezone.now(),
            **fields,
        )
        assert sla_tasks.acknowledgement_send(ticket.pk)
    return ticket


def reply(ticket: Ticket, *, author, when: dt.datetime, **options) -> None:
    with time_machine.travel(when, tick=False):
        ticket_reply(
            ticket_id=ticket.pk,
            author=author,
            body="We are on it.",
            channel=Channel.WEB,
            now=timezone.now(),
            **options,
        )


def move(ticket: Ticket, team: Team, *, when: dt.datetime) -> None:
    """What an escalation does: the ticket and its running clocks go to `team` together."""
    with time_machine.travel(when, tick=False), transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(team=team)
        ticket.team = team
        sla_clocks.clocks_move_team(ticket=ticket, team=team, now=timezone.now())


def sweep(when: dt.datetime) -> dict:
    """One beat of the sweep, run by its task function at `when`."""
    with time_machine.travel(when, tick=False):
        return sla_tasks.sweep()


def clock(ticket: Ticket, metric: Metric) -> Clock:
    """The ticket's current clock for `metric` (a reply restarts the status update's)."""
    return Clock.objects.filter(ticket=ticket, metric=metric).latest("pk")


def breaches(ticket: Ticket, metric: Metric = Metric.RESOLUTION) -> list[Breach]:
    return list(Breach.objects.filter(ticket=ticket, metric=metric))


def system_messages(ticket: Ticket) -> int:
    """The service's own messages in the thread: the acknowledgement, then delay notices."""
    return Message.objects.filter(ticket=ticket, kind=Message.Kind.SYSTEM).count()


def assert_no_breach_at(ticket: Ticket, when: dt.datetime, metric=Metric.RESOLUTION) -> None:
    sweep(when)
    assert breaches(ticket, metric) == []


def assert_breached_exactly_at(ticket: Ticket, due: dt.datetime, metric=Metric.RESOLUTION):
    """Nothing one second before `due`; at `due` one breach, detected on time, one notice."""
    assert clock(ticket, metric).due_at == due
    assert_no_breach_at(ticket, due - SECOND, metric)
    assert clock(ticket, metric).breached_at is None
    notices_before = system_messages(ticket)

    sweep(due)
    sweep(due + 10 * SECOND)  # the next beat finds nothing new
    [breach] = breaches(ticket, metric)
    assert breach.due_at == due
    assert breach.detected_at == due
    assert breach.late_seconds == 0
    assert breach.team_id == ticket.team_id
    assert clock(ticket, metric).breached_at == due
    if metric == Metric.RESOLUTION:
        assert system_messages(ticket) == notices_before + 1


# --- Billing: Friday 17:55 CET ---------------------------------------------------------------


def test_billing_owns_a_ticket_at_friday_1755_cet_resolution_falls_due_monday_in_its_hours(
    teams, first_line_agent
):
    manager = make_agent(manager=True)
    billing_agent = make_agent(teams=(teams["billing"],))
    # Friday 9 January 2026, winter time (CET = UTC+1). The first line answers within its
    # ten minutes and hands the invoice question to billing five minutes before it closes.
    ticket = open_ticket(when=at(CET, 2026, 1, 9, 17, 45), category=Category.BILLING)
    reply(ticket, author=first_line_agent, when=at(CET, 2026, 1, 9, 17, 50))
    move(ticket, teams["billing"], when=at(CET, 2026, 1, 9, 17, 55))

    # 30 minutes for a simple problem: 10 spent with the first line (24/7), 5 left of Friday
    # at billing, the other 15 on Monday from 09:00.
    due = at(CET, 2026, 1, 12, 9, 15)
    assert clock(ticket, Metric.RESOLUTION).due_at == due
    # The status update (4 h, restarted by the reply at 17:50) moves the same way: 5 minutes
    # spent, 5 left on Friday, 3 h 50 on Monday.
    assert clock(ticket, Metric.STATUS_UPDATE).due_at == at(CET, 2026, 1, 12, 12, 50)

    # Nothing over the weekend: billing's time does not run.
    for when in (at(CET, 2026, 1, 9, 18, 0), at(CET, 2026, 1, 10, 12), at(CET, 2026, 1, 12, 9)):
        assert sweep(when)["breached"] == 0
    assert system_messages(ticket) == 1  # the acknowledgement

    # The assignee-less ticket's team is warned once, five minutes before the deadline.
    sweep(due - 5 * MINUTE - SECOND)
    assert not OutboundEmail.objects.filter(purpose="at_risk").exists()
    sweep(due - 5 * MINUTE)
    sweep(due - 4 * MINUTE)
    [warning] = OutboundEmail.objects.filter(purpose="at_risk")
    assert warning.to == billing_agent.email
    assert warning.ticket_id == ticket.pk

    assert_breached_exactly_at(ticket, due)
    # Managers hear of it once; the customer gets one delay notice, by email too.
    [alert] = OutboundEmail.objects.filter(purpose="breach_alert")
    assert alert.to == manager.email
    assert OutboundEmail.objects.filter(ticket=ticket, purpose="status").count() == 1


# --- Data center in Miami: New York time -----------------------------------------------------


def test_a_datacenter_mia_ticket_runs_on_new_york_hours(teams, first_line_agent):
    # Tuesday 13 January 2026, 16:00 in New York (22:00 in Europe, where billing and the
    # Amsterdam technicians are long closed): one hour of the two left today, one tomorrow.
    when = at(NEW_YORK, 2026, 1, 13, 16, 0)
    ticket = open_ticket(when=when, category=Category.DATACENTER, data_center="mia")
    reply(ticket, author=first_line_agent, when=when)
    move(ticket, teams["datacenter-mia"], when=when)

    due = at(NEW_YORK, 2026, 1, 14, 9, 0)
    assert due == at(UTC, 2026, 1, 14, 14, 0)
    assert_no_breach_at(ticket, at(NEW_YORK, 2026, 1, 14, 8, 0))  # 14:00 in Amsterdam
    assert_breached_exactly_at(ticket, due)


# --- DST nights ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "category", "moved", "due", "due_utc"),
    [
        # New York springs forward on Sunday 8 March 2026: Friday 16:00 EST is 21:00 UTC,
        # Monday 09:00 EDT is 13:00 UTC (a fixed offset would say 14:00).
        (
            "datacenter-mia",
            Category.DATACENTER,
            at(NEW_YORK, 2026, 3, 6, 16, 0),
            at(NEW_YORK, 2026, 3, 9, 9, 0),
            at(UTC, 2026, 3, 9, 13, 0),
        ),
        # Europe falls back on Sunday 25 October 2026: Friday 17:55 CEST is 15:55 UTC,
        # Monday 09:25 CET is 08:25 UTC (a fixed offset would say 07:25).
        (
            "billing",
            Category.BILLING,
            at(CET, 2026, 10, 23, 17, 55),
            at(CET, 2026, 10, 26, 9, 25),
            at(UTC, 2026, 10, 26, 8, 25),
        ),
    ],
    ids=["new-york-spring-forward", "europe-fall-back"],
)
def test_a_weekend_with_a_dst_night_keeps_the_deadline_on_local_opening_time(
    teams, first_line_agent, slug, category, moved, due, due_utc
):
    ticket = open_ticket(when=moved, category=category)
    reply(ticket, author=first_line_agent, when=moved)
    move(ticket, teams[slug], when=moved)
    assert due == due_utc
    assert_breached_exactly_at(ticket, due)


def test_wall_clock_promises_run_in_real_seconds_across_the_night_the_clocks_go_forward(teams):
    # Sunday 29 March 2026 in Europe 02:00 CET becomes 03:00 CEST. A chat opened at 01:59:30
    # local is owed its acknowledgement 60 real seconds later, at 03:00:30 on the new clock.
    opened = at(CET, 2026, 3, 29, 1, 59, 30)
    with time_machine.travel(opened, tick=False):
        ticket = ticket_open(
            customer=make_customer(),
            subject="Chat",
            body="Hello?",
            category=Category.VPS,
            channel=Channel.CHAT,
            now=timezone.now(),
        )
    due = at(CET, 2026, 3, 29, 3, 0, 30)
    assert due - opened == dt.timedelta(minutes=61)  # as wall clocks read it
    assert due.astimezone(UTC) - opened.astimezone(UTC) == 60 * SECOND
    assert clock(ticket, Metric.ACKNOWLEDGEMENT).due_at == due
    assert clock(ticket, Metric.FIRST_RESPONSE).due_at == opened.astimezone(UTC) + 10 * MINUTE
    # The lost task is made good by the sweep, within the minute: no breach at the boundary.
    sweep(opened + 5 * SECOND)
    assert Message.objects.filter(ticket=ticket, kind=Message.Kind.SYSTEM).count() == 1
    sweep(due)
    assert breaches(ticket, Metric.ACKNOWLEDGEMENT) == []


# --- Holidays ----------------------------------------------------------------------------------


def test_a_team_holiday_on_monday_moves_the_billing_deadline_to_tuesday(teams):
    Holiday.objects.create(team=teams["billing"], date=dt.date(2026, 1, 12), name="Inventory")
    friday = at(CET, 2026, 1, 9, 17, 55)
    ticket = open_ticket(when=friday, category=Category.BILLING)
    move(ticket, teams["billing"], when=friday)

    due = at(CET, 2026, 1, 13, 9, 25)
    assert_no_breach_at(ticket, at(CET, 2026, 1, 12, 9, 25))  # due there without the holiday
    assert_breached_exactly_at(ticket, due)


def test_a_public_holiday_of_the_teams_country_closes_it(teams):
    # Thanksgiving, Thursday 26 November 2026, closes the Miami technicians.
    mia = teams["datacenter-mia"]
    mia.holiday_country = "US"
    mia.save(update_fields=["holiday_country"])
    wednesday = at(NEW_YORK, 2026, 11, 25, 16, 0)
    ticket = open_ticket(when=wednesday, category=Category.DATACENTER, data_center="mia")
    move(ticket, mia, when=wednesday)

    due = at(NEW_YORK, 2026, 11, 27, 9, 0)  # one hour on Wednesday, Thursday closed, Friday
    assert_no_breach_at(ticket, at(NEW_YORK, 2026, 11, 26, 9, 0))
    assert_breached_exactly_at(ticket, due)


# --- A ticket moved to another team ----------------------------------------------------------


def test_a_moved_ticket_keeps_the_working_time_already_spent(teams, first_line_agent):
    sysadmin, mia = teams["sysadmin"], teams["datacenter-mia"]
    sysadmin_agent = make_agent(teams=(sysadmin,))
    # Tuesday 13 January 2026. Two hours for a dedicated server, on the system administrators
    # (CET 08:00-22:00) from 10:00.
    start = at(CET, 2026, 1, 13, 10, 0)
    ticket = open_ticket(when=start, category=Category.DEDICATED)
    reply(ticket, author=first_line_agent, when=start)
    move(ticket, sysadmin, when=start)
    assert clock(ticket, Metric.RESOLUTION).due_at == at(CET, 2026, 1, 13, 12, 0)

    # 30 minutes of work, then the ticket waits on the customer for half an hour: paused.
    reply(ticket, author=sysadmin_agent, when=at(CET, 2026, 1, 13, 10, 30), wait_on_customer=True)
    assert Ticket.objects.get(pk=ticket.pk).status == Status.WAITING_ON_CUSTOMER
    assert clock(ticket, Metric.RESOLUTION).paused_at is not None
    reply(ticket, author=ticket.customer, when=at(CET, 2026, 1, 13, 11, 0))
    assert clock(ticket, Metric.RESOLUTION).due_at == at(CET, 2026, 1, 13, 12, 30)

    # At 11:30 CET (05:30 in New York, closed) the hardware has to be swapped in Miami:
    # one hour spent, one hour left, from 08:00 New York time.
    move(ticket, mia, when=at(CET, 2026, 1, 13, 11, 30))
    due = at(NEW_YORK, 2026, 1, 13, 9, 0)
    assert_no_breach_at(ticket, at(CET, 2026, 1, 13, 12, 30))  # sysadmin's deadline
    assert_breached_exactly_at(ticket, due)
    assert Breach.objects.get(ticket=ticket, metric=Metric.RESOLUTION).team == mia


def test_a_ticket_moved_while_paused_resumes_with_its_remaining_time_on_the_new_team(teams):
    billing = teams["billing"]
    sysadmin_agent = make_agent(teams=(teams["sysadmin"],))
    # Monday 12 January 2026, on the system administrators from 09:00 (2 h for a VPS).
    start = at(CET, 2026, 1, 12, 9, 0)
    ticket = open_ticket(when=start, category=Category.VPS)
    move(ticket, teams["sysadmin"], when=start)
    # After 90 minutes they ask the customer; the wait turns out to be about an invoice.
    reply(ticket, author=sysadmin_agent, when=at(CET, 2026, 1, 12, 10, 30), wait_on_customer=True)
    move(ticket, billing, when=at(CET, 2026, 1, 12, 17, 0))
    assert clock(ticket, Metric.RESOLUTION).team == billing

    # The customer answers at 17:50: ten minutes of billing's Monday, twenty on Tuesday.
    reply(ticket, author=ticket.customer, when=at(CET, 2026, 1, 12, 17, 50))
    due = at(CET, 2026, 1, 13, 9, 20)
    assert_no_breach_at(ticket, at(CET, 2026, 1, 12, 18, 20))  # on the wall clock
    assert_breached_exactly_at(ticket, due)


# --- An acknowledgement sent late ------------------------------------------------------------


@pytest.mark.parametrize(("late", "breached"), [(0, False), (1, True), (60, True)])
def test_an_acknowledgement_sent_after_its_deadline_is_a_breach_recorded_once(
    teams, late, breached
):
    # The on-commit task was lost and the worker and the beat were down: whoever sends the
    # acknowledgement after its two minutes has missed the promise, and it must show.
    manager = make_agent(manager=True)
    opened = at(UTC, 2026, 1, 13, 10, 0)
    with time_machine.travel(opened, tick=False):
        ticket = ticket_open(
            customer=make_customer(),
            subject="Help",
            body="Please look into it.",
            category=Category.VPS,
            channel=Channel.WEB,
            now=timezone.now(),
        )
    due = opened + 2 * MINUTE
    sent = due + late * SECOND
    with time_machine.travel(sent, tick=False):
        assert sla_tasks.acknowledgement_send(ticket.pk)
        assert not sla_tasks.acknowledgement_send(ticket.pk)  # a duplicate delivery
    sweep(sent + 10 * SECOND)
    sweep(sent + 20 * SECOND)

    ack = clock(ticket, Metric.ACKNOWLEDGEMENT)
    assert ack.met_at == sent
    assert system_messages(ticket) == 1
    if not breached:
        assert ack.breached_at is None
        assert breaches(ticket, Metric.ACKNOWLEDGEMENT) == []
        return
    assert ack.breached_at == sent
    [breach] = breaches(ticket, Metric.ACKNOWLEDGEMENT)
    assert (breach.due_at, breach.detected_at, breach.late_seconds) == (due, sent, late)
    [alert] = OutboundEmail.objects.filter(purpose="breach_alert")
    assert alert.to == manager.email


def test_an_acknowledgement_the_sweep_makes_good_late_is_a_breach_too(teams):
    opened = at(UTC, 2026, 1, 13, 10, 0)
    with time_machine.travel(opened, tick=False):
        ticket = ticket_open(
            customer=make_customer(),
            subject="Help",
            body="Please look into it.",
            category=Category.VPS,
            channel=Channel.WEB,
            now=timezone.now(),
        )
    # The first beat after three minutes of outage sends it, and records the miss.
    assert sweep(opened + 3 * MINUTE)["acknowledged"] == 1
    sweep(opened + 3 * MINUTE + 10 * SECOND)
    assert system_messages(ticket) == 1
    [breach] = breaches(ticket, Metric.ACKNOWLEDGEMENT)
    assert breach.detected_at == opened + 3 * MINUTE


# --- A promise kept late, between two sweeps -------------------------------------------------


@pytest.mark.parametrize(("late", "breached"), [(0, False), (1, True)])
def test_a_first_response_and_a_resolution_given_after_their_deadline_are_breaches(
    teams, first_line_agent, late, breached
):
    # No sweep runs between the deadline and the answer (they run every 10 s): the answer
    # itself must record that the promise was missed, or it would count as kept.
    opened = at(UTC, 2026, 1, 13, 10, 0)
    ticket = open_ticket(when=opened, category=Category.BILLING)  # 30 minutes to resolve
    first_response = opened + 10 * MINUTE + late * SECOND
    reply(ticket, author=first_line_agent, when=first_response)
    resolved = opened + 30 * MINUTE + late * SECOND
    with time_machine.travel(resolved, tick=False):
        ticket_resolve(
            ticket_id=ticket.pk, actor=first_line_agent, summary="Refunded.", now=timezone.now()
        )
    sweep(resolved + 10 * SECOND)

    for metric, met in ((Metric.FIRST_RESPONSE, first_response), (Metric.RESOLUTION, resolved)):
        kept = Clock.objects.get(ticket=ticket, metric=metric)
        assert kept.met_at == met
        if not breached:
            assert kept.breached_at is None
            assert breaches(ticket, metric) == []
            continue
        [breach] = breaches(ticket, metric)
        assert (breach.detected_at, breach.late_seconds) == (met, late)
        assert kept.breached_at == met
    # A promise met, late or not, gets no delay notice afterwards.
    assert system_messages(ticket) == 1
