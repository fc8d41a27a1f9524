"""Clocks follow the ticket: started on open, met by the right event, paused while the ticket
waits on someone else, moved with it to another team. Due times come from the pure policy and
calendar; `now` always comes from the caller."""

import datetime
import logging

from django.db.models import OuterRef, QuerySet, Subquery

from sla import policy
from sla.models import Breach, Clock, Policy
from sla.policy import Metric, Targets
from sla.services.versions import policy_current
from teams import calendar
from teams.calendar import BusinessCalendar
from teams.models import Team
from teams.selectors import team_calendar
from tickets.models import Status, Ticket

logger = logging.getLogger(__name__)

PAUSED_STATUSES = frozenset({Status.WAITING_ON_CUSTOMER, Status.PENDING_APPROVAL})
# Metrics on the owning team's working hours; the others run on the wall clock (L1 is 24/7).
BUSINESS_METRICS = frozenset({Metric.STATUS_UPDATE, Metric.RESOLUTION})


def _due(
    *,
    start: datetime.datetime,
    duration: datetime.timedelta,
    team: Team,
    business: bool,
    cal: BusinessCalendar | None = None,
):
    """When `duration` runs out from `start`, on `cal` (default: the team's calendar). A team
    left without any working hours would hold its promises back forever (and crash the ticket
    that starts one): its clocks run on the wall clock instead, and the log says so."""
    if business:
        try:
            return calendar.add_business_time(start, duration, cal or team_calendar(team))
        except calendar.AlwaysClosedError:
            logger.warning("team %s has no working hours: SLA clock on the wall clock", team.slug)
    return start + duration


def _remaining(*, clock: Clock, now: datetime.datetime) -> datetime.timedelta:
    """Time left on a running clock, counted as `_due` counted it."""
    if clock.business:
        cal = team_calendar(clock.team)
        if cal.hours:
            return calendar.business_time_between(now, clock.due_at, cal)
    return clock.due_at - now


def _clock_new(
    *,
    ticket: Ticket,
    metric: Metric,
    seconds: int,
    now: datetime.datetime,
    version: Policy,
    cal: calendar.BusinessCalendar | None = None,
) -> Clock:
    business = metric in BUSINESS_METRICS
    return Clock(
        ticket=ticket,
        metric=metric,
        team=ticket.team,
        business=business,
        target_seconds=seconds,
        policy=version,
        started_at=now,
        due_at=_due(
            start=now,
            duration=datetime.timedelta(seconds=seconds),
            team=ticket.team,
            business=business,
            cal=cal,
        ),
    )


def _running(ticket: Ticket) -> QuerySet[Clock]:
    return Clock.objects.filter(ticket=ticket, met_at__isnull=True, cancelled_at__isnull=True)


def _next_due() -> Subquery:
    """The due time of the outer ticket's next promise (`clock_due_next`, in SQL)."""
    return Subquery(
        Clock.objects.filter(
            ticket_id=OuterRef("pk"),
            met_at__isnull=True,
            cancelled_at__isnull=True,
            paused_at__isnull=True,
        )
        .order_by("due_at")
        .values("due_at")[:1]
    )


def next_due_refresh(*, ticket: Ticket) -> None:
    """Copy the ticket's next deadline onto `Ticket.next_due_at` (one UPDATE), after every
    change of its clocks: started, met, paused, resumed, moved, restarted or cancelled. A
    breach changes nothing: the late promise is still the one owed first."""
    Ticket.objects.filter(pk=ticket.pk).update(next_due_at=_next_due())


def clocks_meet(clocks: QuerySet[Clock], *, now: datetime.datetime) -> int:
    """Meet the running `clocks` at `now`; how many were met.

    One met after its deadline missed its promise: unless a sweep saw it in between (they run
    every few seconds), its breach is recorded here, or the miss would count as kept.
    """
    breaches_create(
        clocks.filter(breached_at__isnull=True, paused_at__isnull=True, due_at__lt=now).only(
            "id", "ticket_id", "team_id", "metric", "due_at"
        ),
        now=now,
    )
    return clocks.update(met_at=now)


def breaches_create(clocks, *, now: datetime.datetime) -> None:
    """Mark `clocks` breached at `now` and record their Breach rows; a clock already marked
    keeps its first detection."""
    clocks = list(clocks)
    if not clocks:
        return
    Clock.objects.filter(pk__in=[c.pk for c in clocks], breached_at__isnull=True).update(
        breached_at=now
    )
    Breach.objects.bulk_create(
        [
            Breach(
                clock_id=c.pk,
                ticket_id=c.ticket_id,
                team_id=c.team_id,
                metric=c.metric,
                due_at=c.due_at,
                detected_at=now,
            )
            for c in clocks
        ],
        ignore_conflicts=True,
    )


def _targets(ticket: Ticket, targets: Targets) -> dict[Metric, int]:
    return {
        Metric.ACKNOWLEDGEMENT: policy.acknowledgement_target(ticket.channel, targets),
        Metric.FIRST_RESPONSE: targets.first_response,
        Metric.STATUS_UPDATE: targets.status_update,
        Metric.RESOLUTION: policy.resolution_target(
            ticket.category, ticket.estimate_seconds, targets
        ),
    }


def clocks_new(*, ticket: Ticket, now: datetime.datetime) -> list[Clock]:
    """Every promise of a new request: acknowledgement, first response, status update and
    resolution, with the targets of the current policy version (one query), on one calendar
    of the team (`escalation.selectors.teams_with_calendars` makes it free). Not saved yet:
    `ticket.next_due_at` is set from them before the ticket's INSERT, which `clocks_store`
    follows, so a new ticket's row is written once."""
    version = policy_current(now=now)
    seconds = _targets(ticket, version.targets)
    cal = team_calendar(ticket.team)
    clocks = [
        _clock_new(ticket=ticket, metric=m, seconds=seconds[m], now=now, version=version, cal=cal)
        for m in Metric
    ]
    ticket.next_due_at = min(clock.due_at for clock in clocks)
    return clocks


def clocks_store(clocks: list[Clock]) -> list[Clock]:
    """Insert the clocks of `clocks_new`, once their ticket is saved: one INSERT."""
    return Clock.objects.bulk_create(clocks)


def clocks_on_public_reply(*, ticket: Ticket, now: datetime.datetime) -> None:
    """A human agent's public message meets the first response and restarts the status-update
    clock while work goes on."""
    clocks_meet(_running(ticket).filter(metric=Metric.FIRST_RESPONSE), now=now)
    restarted = clocks_meet(_running(ticket).filter(metric=Metric.STATUS_UPDATE), now=now)
    if restarted and ticket.status not in (Status.RESOLVED, Status.CLOSED):
        version = policy_current(now=now)
        clock = _clock_new(
            ticket=ticket,
            metric=Metric.STATUS_UPDATE,
            seconds=version.targets.status_update,
            now=now,
            version=version,
        )
        if ticket.status in PAUSED_STATUSES:
            _pause(clock, now=now)
        clock.save()
    next_due_refresh(ticket=ticket)


def _pause(clock: Clock, *, now: datetime.datetime) -> None:
    clock.paused_at = now
    clock.remaining_seconds = int(_remaining(clock=clock, now=now).total_seconds())


def _resume(clock: Clock, *, now: datetime.datetime) -> None:
    """The wait is left out: the clock has the time it had left when it paused. One already
    late stays as late as it was (counted on the wall clock: its breach is on record)."""
    clock.paused_seconds += int((now - clock.paused_at).total_seconds())
    remaining = datetime.timedelta(seconds=clock.remaining_seconds)
    if remaining < datetime.timedelta(0):
        clock.due_at = now + remaining
    else:
        clock.due_at = _due(start=now, duration=remaining, team=clock.team, business=clock.business)
    clock.paused_at = None
    clock.remaining_seconds = None


# The clocks a wait on the customer or on management stops; the acknowledgement and the
# first response are owed whatever the ticket waits on.
PAUSABLE_METRICS = (Metric.STATUS_UPDATE, Metric.RESOLUTION)


def clocks_on_status(
    *, ticket: Ticket, old_status: str, now: datetime.datetime, reopened: bool = False
) -> None:
    """Pause, resume, meet or cancel the running clocks when the ticket's status changes."""
    _clocks_on_status(ticket=ticket, old_status=old_status, now=now, reopened=reopened)
    next_due_refresh(ticket=ticket)


def _clocks_on_status(
    *, ticket: Ticket, old_status: str, now: datetime.datetime, reopened: bool
) -> None:
    new_status = ticket.status
    running = _running(ticket)
    if new_status in (Status.RESOLVED, Status.CLOSED):
        clocks_meet(running.filter(metric=Metric.RESOLUTION), now=now)
        running.exclude(metric__in=[Metric.ACKNOWLEDGEMENT, Metric.RESOLUTION]).update(
            cancelled_at=now
        )
        return
    if reopened:
        _clocks_restart(ticket=ticket, now=now, metrics=(Metric.FIRST_RESPONSE, Metric.RESOLUTION))
    pausing = new_status in PAUSED_STATUSES and old_status not in PAUSED_STATUSES
    resuming = old_status in PAUSED_STATUSES and new_status not in PAUSED_STATUSES
    if not (pausing or resuming):
        return
    clocks = list(running.filter(metric__in=PAUSABLE_METRICS).select_related("team"))
    for clock in clocks:
        if pausing and clock.paused_at is None:
            _pause(clock, now=now)
        elif resuming and clock.paused_at is not None:
            _resume(clock, now=now)
    Clock.objects.bulk_update(
        clocks, ["paused_at", "remaining_seconds", "paused_seconds", "due_at"]
    )


def clocks_restart(*, ticket: Ticket, now: datetime.datetime, metrics) -> None:
    """Fresh clocks for a reopened ticket, on the current policy version: the customer is owed
    a new first response."""
    _clocks_restart(ticket=ticket, now=now, metrics=metrics)
    next_due_refresh(ticket=ticket)


def _clocks_restart(*, ticket: Ticket, now: datetime.datetime, metrics) -> None:
    version = policy_current(now=now)
    seconds = _targets(ticket, version.targets)
    _running(ticket).filter(metric__in=metrics).update(cancelled_at=now)
    Clock.objects.bulk_create(
        [
            _clock_new(ticket=ticket, metric=m, seconds=seconds[m], now=now, version=version)
            for m in metrics
        ]
    )


def clocks_estimate(*, ticket: Ticket, now: datetime.datetime) -> Clock:
    """A non-standard request got its estimate (`ticket.estimate_seconds`): the resolution
    promise starts again from now with the estimate as its target, in the owning team's
    working time. Paused like the others while the ticket waits."""
    version = policy_current(now=now)
    _running(ticket).filter(metric=Metric.RESOLUTION).update(cancelled_at=now)
    clock = _clock_new(
        ticket=ticket,
        metric=Metric.RESOLUTION,
        seconds=_targets(ticket, version.targets)[Metric.RESOLUTION],
        now=now,
        version=version,
    )
    if ticket.status in PAUSED_STATUSES:
        _pause(clock, now=now)
    clock.save()
    next_due_refresh(ticket=ticket)
    return clock


def clocks_move_team(*, ticket: Ticket, team: Team, now: datetime.datetime) -> None:
    """Escalation: resolution and status-update clocks continue on the new team's calendar,
    keeping the working time already spent."""
    clocks = list(_running(ticket).filter(metric__in=BUSINESS_METRICS).select_related("team"))
    for clock in clocks:
        if clock.paused_at is not None:
            clock.team = team
            continue
        remaining = _remaining(clock=clock, now=now)
        clock.team = team
        if remaining > datetime.timedelta(0):
            clock.due_at = _due(start=now, duration=remaining, team=team, business=clock.business)
    Clock.objects.bulk_update(clocks, ["team", "due_at"])
    next_due_refresh(ticket=ticket)


def clock_due_next(clocks) -> Clock | None:
    """The next promise the customer is waiting for: the running, unpaused clock due first."""
    running = [c for c in clocks if c.is_running and not c.paused]
    return min(running, key=lambda c: c.due_at, default=None)
