"""Clocks follow the ticket: started on open, met by the right event, paused while the ticket
waits on someone else, moved with it to another team. Due times come from the pure policy and
calendar; `now` always comes from the caller."""

import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import translation
from django.utils.translation import gettext as _

from escalation.models import Team
from sla import calendar, policy
from sla.models import Clock
from sla.policy import Metric
from tickets.models import Channel, Message, Status, Ticket

PAUSED_STATUSES = frozenset({Status.WAITING_ON_CUSTOMER, Status.PENDING_APPROVAL})
# Metrics on the owning team's working hours; the others run on the wall clock (L1 is 24/7).
BUSINESS_METRICS = frozenset({Metric.STATUS_UPDATE, Metric.RESOLUTION})


def team_calendar(team: Team) -> calendar.BusinessCalendar:
    # Imported here: escalation's services call back into this module when they escalate.
    from escalation.services import team_calendar as build

    return build(team)


def _due(*, start: datetime.datetime, seconds: int, team: Team, business: bool):
    if not business:
        return start + datetime.timedelta(seconds=seconds)
    return calendar.add_business_time(
        start, datetime.timedelta(seconds=seconds), team_calendar(team)
    )


def _clock_new(*, ticket: Ticket, metric: Metric, seconds: int, now: datetime.datetime) -> Clock:
    business = metric in BUSINESS_METRICS
    return Clock(
        ticket=ticket,
        metric=metric,
        team=ticket.team,
        business=business,
        target_seconds=seconds,
        started_at=now,
        due_at=_due(start=now, seconds=seconds, team=ticket.team, business=business),
    )


def _running(ticket: Ticket) -> QuerySet[Clock]:
    return Clock.objects.filter(ticket=ticket, met_at__isnull=True, cancelled_at__isnull=True)


def clocks_start(*, ticket: Ticket, now: datetime.datetime) -> list[Clock]:
    """Every promise of a new request: acknowledgement, first response, status update and
    resolution, with the targets of the default policy."""
    targets = policy.DEFAULT_TARGETS
    clocks = [
        _clock_new(
            ticket=ticket,
            metric=Metric.ACKNOWLEDGEMENT,
            seconds=policy.acknowledgement_target(ticket.channel, targets),
            now=now,
        ),
        _clock_new(
            ticket=ticket, metric=Metric.FIRST_RESPONSE, seconds=targets.first_response, now=now
        ),
        _clock_new(
            ticket=ticket, metric=Metric.STATUS_UPDATE, seconds=targets.status_update, now=now
        ),
        _clock_new(
            ticket=ticket,
            metric=Metric.RESOLUTION,
            seconds=policy.resolution_target(ticket.category, ticket.estimate_seconds, targets),
            now=now,
        ),
    ]
    return Clock.objects.bulk_create(clocks)


def clocks_on_public_reply(*, ticket: Ticket, now: datetime.datetime) -> None:
    """A human agent's public message meets the first response and restarts the status-update
    clock while work goes on."""
    _running(ticket).filter(metric=Metric.FIRST_RESPONSE).update(met_at=now)
    restarted = _running(ticket).filter(metric=Metric.STATUS_UPDATE).update(met_at=now)
    if restarted and ticket.status not in (Status.RESOLVED, Status.CLOSED):
        clock = _clock_new(
            ticket=ticket,
            metric=Metric.STATUS_UPDATE,
            seconds=policy.DEFAULT_TARGETS.status_update,
            now=now,
        )
        if ticket.status in PAUSED_STATUSES:
            _pause(clock, now=now)
        clock.save()


def _pause(clock: Clock, *, now: datetime.datetime) -> None:
    if clock.business:
        remaining = calendar.business_time_between(now, clock.due_at, team_calendar(clock.team))
    else:
        remaining = clock.due_at - now
    clock.paused_at = now
    clock.remaining_seconds = int(remaining.total_seconds())


def _resume(clock: Clock, *, now: datetime.datetime) -> None:
    clock.paused_seconds += int((now - clock.paused_at).total_seconds())
    clock.due_at = _due(
        start=now,
        seconds=max(clock.remaining_seconds, 0),
        team=clock.team,
        business=clock.business,
    )
    clock.paused_at = None
    clock.remaining_seconds = None


# The clocks a wait on the customer or on management stops; the acknowledgement and the
# first response are owed whatever the ticket waits on.
PAUSABLE_METRICS = (Metric.STATUS_UPDATE, Metric.RESOLUTION)


def clocks_on_status(
    *, ticket: Ticket, old_status: str, now: datetime.datetime, reopened: bool = False
) -> None:
    """Pause, resume, meet or cancel the running clocks when the ticket's status changes."""
    new_status = ticket.status
    running = _running(ticket)
    if new_status in (Status.RESOLVED, Status.CLOSED):
        running.filter(metric=Metric.RESOLUTION).update(met_at=now)
        running.exclude(metric__in=[Metric.ACKNOWLEDGEMENT, Metric.RESOLUTION]).update(
            cancelled_at=now
        )
        return
    if reopened:
        clocks_restart(ticket=ticket, now=now, metrics=(Metric.FIRST_RESPONSE, Metric.RESOLUTION))
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
    """Fresh clocks for a reopened ticket: the customer is owed a new first response."""
    targets = policy.DEFAULT_TARGETS
    seconds = {
        Metric.FIRST_RESPONSE: targets.first_response,
        Metric.STATUS_UPDATE: targets.status_update,
        Metric.RESOLUTION: policy.resolution_target(
            ticket.category, ticket.estimate_seconds, targets
        ),
    }
    _running(ticket).filter(metric__in=metrics).update(cancelled_at=now)
    Clock.objects.bulk_create(
        [_clock_new(ticket=ticket, metric=m, seconds=seconds[m], now=now) for m in metrics]
    )


def clocks_move_team(*, ticket: Ticket, team: Team, now: datetime.datetime) -> None:
    """Escalation: resolution and status-update clocks continue on the new team's calendar,
    keeping the working time already spent."""
    clocks = list(_running(ticket).filter(metric__in=BUSINESS_METRICS).select_related("team"))
    for clock in clocks:
        if clock.paused_at is not None:
            clock.team = team
            continue
        remaining = calendar.business_time_between(now, clock.due_at, team_calendar(clock.team))
        clock.team = team
        clock.due_at = (
            calendar.add_business_time(now, remaining, team_calendar(team))
            if remaining > datetime.timedelta(0)
            else clock.due_at
        )
    Clock.objects.bulk_update(clocks, ["team", "due_at"])


def clock_due_next(clocks) -> Clock | None:
    """The next promise the customer is waiting for: the running, unpaused clock due first."""
    running = [c for c in clocks if c.is_running and not c.paused]
    return min(running, key=lambda c: c.due_at, default=None)


def _system_message_create(*, ticket: Ticket, body: str, now: datetime.datetime) -> Message:
    """The service speaking in the thread: no author, on the ticket's own channel."""
    return Message.objects.create(
        ticket=ticket,
        kind=Message.Kind.SYSTEM,
        channel=ticket.channel,
        author=None,
        body=body,
        created_at=now,
    )


def acknowledgement_text(*, ticket: Ticket, language: str) -> str:
    with translation.override(language):
        return _(
            "Thank you for contacting INTROSERV support. We have received your request "
            "%(reference)s and it is with our %(team)s team. A member of our team will "
            "reply within %(minutes)s minutes, 24 hours a day, 7 days a week. You can follow "
            "and continue this conversation from your account or by replying to our emails."
        ) % {
            "reference": ticket.reference,
            "team": ticket.team.name,
            "minutes": policy.DEFAULT_TARGETS.first_response // 60,
        }


def acknowledgement_send(*, ticket_id: int, now: datetime.datetime) -> Message | None:
    """Acknowledge a request exactly once.

    A conditional UPDATE claims the clock; only the caller whose UPDATE changed the row posts
    the system message and queues the email. Duplicate deliveries, retries and racing sweeps
    find nothing to claim; a worker killed before COMMIT leaves the clock for the sweep.
    """
    from tickets import notifications

    with transaction.atomic():
        claimed = Clock.objects.filter(
            ticket_id=ticket_id,
            metric=Metric.ACKNOWLEDGEMENT,
            met_at__isnull=True,
            cancelled_at__isnull=True,
        ).update(met_at=now)
        if not claimed:
            return None
        ticket = Ticket.objects.select_related("team", "customer__customer_profile").get(
            pk=ticket_id
        )
        language = notifications.language_of(ticket.customer)
        message = _system_message_create(
            ticket=ticket, body=acknowledgement_text(ticket=ticket, language=language), now=now
        )
        if ticket.channel != Channel.CHAT:
            notifications.email_queue(
                ticket=ticket, message=message, purpose="acknowledgement", now=now
            )
        notifications.broadcast_message_on_commit(message)
    return message


def clocks_open_due(*, now: datetime.datetime) -> QuerySet[Clock]:
    """Running, unpaused, unbreached clocks past due: what the sweep reads, by partial index."""
    return Clock.objects.filter(
        met_at__isnull=True,
        breached_at__isnull=True,
        cancelled_at__isnull=True,
        paused_at__isnull=True,
        due_at__lte=now,
    )


def acknowledgements_missing(*, now: datetime.datetime, grace_seconds: int = 5):
    """Tickets whose acknowledgement task was lost: still unacknowledged `grace_seconds`
    after opening (the on-commit task normally takes about a second)."""
    cutoff = now - datetime.timedelta(seconds=grace_seconds)
    return Clock.objects.filter(
        metric=Metric.ACKNOWLEDGEMENT,
        met_at__isnull=True,
        cancelled_at__isnull=True,
        started_at__lte=cutoff,
    ).values_list("ticket_id", flat=True)


# --- The sweep: what the beat runs every few seconds ------------------------------------------

SWEEP_BATCH = 500


def breaches_record(*, now: datetime.datetime, limit: int = SWEEP_BATCH) -> list[int]:
    """Mark every running clock past due as breached, once, and record a Breach.

    Safe to run concurrently with itself: rows are taken with SKIP LOCKED and the UPDATE is
    conditional, so two sweeps never record the same breach twice.
    """
    from sla.models import Breach

    with transaction.atomic():
        clocks = list(
            clocks_open_due(now=now)
            .select_for_update(skip_locked=True)
            .order_by("due_at")
            .only("id", "ticket_id", "team_id", "metric", "due_at")[:limit]
        )
        if not clocks:
            return []
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
        late_resolutions = [c.ticket_id for c in clocks if c.metric == Metric.RESOLUTION]
        for ticket in Ticket.objects.filter(pk__in=late_resolutions).select_related(
            "team", "customer__customer_profile"
        ):
            _delay_notice_post(ticket=ticket, now=now)
    return [c.pk for c in clocks]


def delay_notice_text(*, ticket: Ticket, language: str) -> str:
    with translation.override(language):
        return _(
            "Your request %(reference)s is taking longer than we expected. Our %(team)s team "
            "is still working on it and we will keep you updated. We are sorry for the wait."
        ) % {"reference": ticket.reference, "team": ticket.team.name}


def _delay_notice_post(*, ticket: Ticket, now: datetime.datetime) -> None:
    """The guide: "Se qualcosa richiede più tempo del previsto, ve lo comunichiamo sempre"."""
    from tickets import notifications

    language = notifications.language_of(ticket.customer)
    message = _system_message_create(
        ticket=ticket, body=delay_notice_text(ticket=ticket, language=language), now=now
    )
    notifications.email_queue(ticket=ticket, message=message, purpose="status", now=now)
    notifications.broadcast_message_on_commit(message)


def _managers():
    from django.contrib.auth import get_user_model

    from tickets.selectors import MANAGERS_GROUP

    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name=MANAGERS_GROUP)
        .exclude(email="")
        .order_by("pk")
    )


def managers_notify(*, now: datetime.datetime, limit: int = SWEEP_BATCH) -> int:
    """Tell managers of every breach, once ("se ci sfuggono, il nostro management lo sa").

    One email per manager per sweep lists the new breaches; the claim on
    `managers_notified_at` makes a racing sweep skip them.
    """
    from sla.models import Breach
    from tickets import notifications

    with transaction.atomic():
        breaches = list(
            Breach.objects.filter(managers_notified_at__isnull=True)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("ticket", "team")
            .order_by("detected_at")[:limit]
        )
        if not breaches:
            return 0
        Breach.objects.filter(pk__in=[b.pk for b in breaches]).update(managers_notified_at=now)
        for manager in _managers():
            notifications.staff_email_queue(
                to=manager.email,
                template="sla/email/breaches",
                context={"breaches": breaches, "manager": manager},
                language=notifications.language_of(manager),
                purpose="breach_alert",
                now=now,
            )
    return len(breaches)


def clocks_at_risk_warn(
    *, now: datetime.datetime, margin_seconds: int, limit: int = SWEEP_BATCH
) -> int:
    """Warn the assignee (or, unassigned, the team) of a promise about to be missed, once."""
    from tickets import notifications

    horizon = now + datetime.timedelta(seconds=margin_seconds)
    with transaction.atomic():
        clocks = list(
            Clock.objects.filter(
                met_at__isnull=True,
                breached_at__isnull=True,
                cancelled_at__isnull=True,
                paused_at__isnull=True,
                warned_at__isnull=True,
                due_at__gt=now,
                due_at__lte=horizon,
            )
            .exclude(metric=Metric.ACKNOWLEDGEMENT)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("ticket__assignee", "ticket__team")
            .order_by("due_at")[:limit]
        )
        if not clocks:
            return 0
        Clock.objects.filter(pk__in=[c.pk for c in clocks]).update(warned_at=now)
        for clock in clocks:
            ticket = clock.ticket
            recipients = (
                [ticket.assignee]
                if ticket.assignee_id
                else list(ticket.team.members.filter(is_active=True).exclude(email=""))
            )
            for agent in recipients:
                if not agent.email:
                    continue
                notifications.staff_email_queue(
                    to=agent.email,
                    template="sla/email/at_risk",
                    context={"clock": clock, "ticket": ticket, "agent": agent},
                    language=notifications.language_of(agent),
                    purpose="at_risk",
                    now=now,
                    ticket=ticket,
                )
    return len(clocks)
