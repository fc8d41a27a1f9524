"""Clocks follow the ticket: started on open, met by the right event, paused while the ticket
waits on someone else, moved with it to another team. Due times come from the pure policy and
calendar; `now` always comes from the caller."""

import datetime
import logging

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.utils import translation
from django.utils.translation import gettext as _

from escalation.models import Team
from sla import calendar, policy
from sla.models import Clock, Policy
from sla.policy import Metric, Targets
from tickets.models import Channel, Message, Status, Ticket

logger = logging.getLogger(__name__)

PAUSED_STATUSES = frozenset({Status.WAITING_ON_CUSTOMER, Status.PENDING_APPROVAL})
# Metrics on the owning team's working hours; the others run on the wall clock (L1 is 24/7).
BUSINESS_METRICS = frozenset({Metric.STATUS_UPDATE, Metric.RESOLUTION})


def team_calendar(team: Team) -> calendar.BusinessCalendar:
    # Imported here: escalation's services call back into this module when they escalate.
    from escalation.services import team_calendar as build

    return build(team)


def _due(
    *,
    start: datetime.datetime,
    duration: datetime.timedelta,
    team: Team,
    business: bool,
    cal: calendar.BusinessCalendar | None = None,
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


def _meet(clocks: QuerySet[Clock], *, now: datetime.datetime) -> int:
    """Meet the running `clocks` at `now`; how many were met.

    One met after its deadline missed its promise: unless a sweep saw it in between (they run
    every few seconds), its breach is recorded here, or the miss would count as kept.
    """
    _breaches_create(
        clocks.filter(breached_at__isnull=True, paused_at__isnull=True, due_at__lt=now).only(
            "id", "ticket_id", "team_id", "metric", "due_at"
        ),
        now=now,
    )
    return clocks.update(met_at=now)


# --- The policy: versions of the targets -------------------------------------------------------

SEED_NOTE = "API.md defaults"


def policy_seed(*, now: datetime.datetime) -> tuple[Policy, bool]:
    """Version 1 from API.md's defaults when no version exists yet; returns the current version
    and whether it was written. A version a manager saved is never touched, so `setup_support`
    runs this every time."""
    current = Policy.objects.order_by("-version").first()
    if current is not None:
        return current, False
    # get_or_create: two first tickets racing both find no version; one writes it.
    return Policy.objects.get_or_create(
        version=1,
        defaults={
            **Policy.fields_of(policy.DEFAULT_TARGETS),
            "note": SEED_NOTE,
            "created_at": now,
        },
    )


def policy_current(*, now: datetime.datetime) -> Policy:
    """The version new clocks take: the highest (one query; written first if there is none,
    so that every clock names the version that set its target)."""
    return policy_seed(now=now)[0]


VERSION_ATTEMPTS = 3


def policy_version_create(*, targets: Targets, note: str, author, now: datetime.datetime) -> Policy:
    """A change to the policy, saved as the next version: new clocks take it, running ones keep
    the version they started with."""

    def create() -> Policy:
        latest = Policy.objects.order_by("-version").values_list("version", flat=True).first()
        with transaction.atomic():
            return Policy.objects.create(
                version=(latest or 0) + 1,
                **Policy.fields_of(targets),
                note=note,
                created_by=author,
                created_at=now,
            )

    for _attempt in range(VERSION_ATTEMPTS - 1):
        try:
            return create()
        except IntegrityError:
            continue  # another manager saved a version in between: take the number after it
    return create()


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
    _meet(_running(ticket).filter(metric=Metric.FIRST_RESPONSE), now=now)
    restarted = _meet(_running(ticket).filter(metric=Metric.STATUS_UPDATE), now=now)
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
    clock.paused_seconds += int((now - clock.paused_at).total_seconds())
    clock.due_at = _due(
        start=now,
        duration=datetime.timedelta(seconds=max(clock.remaining_seconds, 0)),
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
    _clocks_on_status(ticket=ticket, old_status=old_status, now=now, reopened=reopened)
    next_due_refresh(ticket=ticket)


def _clocks_on_status(
    *, ticket: Ticket, old_status: str, now: datetime.datetime, reopened: bool
) -> None:
    new_status = ticket.status
    running = _running(ticket)
    if new_status in (Status.RESOLVED, Status.CLOSED):
        _meet(running.filter(metric=Metric.RESOLUTION), now=now)
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


def _system_message_create(*, ticket: Ticket, body: str, now: datetime.datetime) -> Message:
    """The service speaking in the thread: no author, on the ticket's own channel, stored
    under the ticket's row lock like every message (`message_post`). Both callers (the
    acknowledgement, the sweep's delay notice) hold that lock already."""
    from tickets.services import message_post

    message, _created = message_post(
        ticket=ticket,
        author=None,
        kind=Message.Kind.SYSTEM,
        body=body,
        channel=ticket.channel,
        now=now,
        ticket_locked=True,
    )
    return message


def acknowledgement_text(*, ticket: Ticket, language: str, first_response_seconds: int) -> str:
    """The automatic reply, promising the first response the ticket's own clock holds."""
    with translation.override(language):
        return _(
            "Thank you for contacting INTROSERV support. We have received your request "
            "%(reference)s and it is with our %(team)s team. A member of our team will "
            "reply within %(minutes)s minutes, 24 hours a day, 7 days a week. You can follow "
            "and continue this conversation from your account or by replying to our emails."
        ) % {
            "reference": ticket.reference,
            "team": ticket.team.name,
            "minutes": first_response_seconds // 60,
        }


def acknowledgement_send(*, ticket_id: int, now: datetime.datetime) -> Message | None:
    """Acknowledge a request exactly once.

    A conditional UPDATE claims the clock; only the caller whose UPDATE changed the row posts
    the system message and queues the email. Duplicate deliveries, retries and racing sweeps
    find nothing to claim; a worker killed before COMMIT leaves the clock for the sweep.
    """
    from tickets import notifications

    first_response = Clock.objects.filter(
        ticket_id=OuterRef("pk"), metric=Metric.FIRST_RESPONSE
    ).order_by("-started_at")
    with transaction.atomic():
        # The ticket before its clock, as every reply locks them: its row lock and what the
        # message says, in one query.
        ticket = (
            Ticket.objects.select_related("team", "customer__customer_profile")
            .select_for_update(of=("self",))
            .annotate(first_response_seconds=Subquery(first_response.values("target_seconds")[:1]))
            .filter(pk=ticket_id)
            .first()
        )
        if ticket is None:
            return None
        unmet = Clock.objects.filter(
            ticket_id=ticket_id,
            metric=Metric.ACKNOWLEDGEMENT,
            met_at__isnull=True,
            cancelled_at__isnull=True,
        )
        # On time, the claim is one UPDATE. Sent after its deadline (the worker or the beat
        # was down), the miss is recorded with the claim: the sweep never sees a met clock.
        claimed = unmet.filter(due_at__gte=now).update(met_at=now) or _meet(unmet, now=now)
        if not claimed:
            return None
        next_due_refresh(ticket=ticket)
        language = notifications.language_of(ticket.customer)
        body = acknowledgement_text(
            ticket=ticket,
            language=language,
            first_response_seconds=ticket.first_response_seconds
            or policy.DEFAULT_TARGETS.first_response,
        )
        message = _system_message_create(ticket=ticket, body=body, now=now)
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


def _breaches_create(clocks, *, now: datetime.datetime) -> None:
    """Mark `clocks` breached at `now` and record their Breach rows; a clock already marked
    keeps its first detection."""
    from sla.models import Breach

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


def breaches_record(*, now: datetime.datetime, limit: int = SWEEP_BATCH) -> list[int]:
    """Mark every running clock past due as breached, once, and record a Breach.

    Safe to run concurrently with itself: rows are taken with SKIP LOCKED and the UPDATE is
    conditional, so two sweeps never record the same breach twice.
    """
    with transaction.atomic():
        clocks = list(
            clocks_open_due(now=now)
            .select_for_update(skip_locked=True)
            .order_by("due_at")
            .only("id", "ticket_id", "team_id", "metric", "due_at")[:limit]
        )
        if not clocks:
            return []
        # A late resolution's delay notice is a message, stored under the ticket's lock. A
        # ticket locked by a reply in progress (which may be waiting for this very clock) is
        # left to the next sweep, clock and all, rather than waited for: no deadlock.
        late_resolutions = {c.ticket_id for c in clocks if c.metric == Metric.RESOLUTION}
        tickets = list(
            Ticket.objects.filter(pk__in=late_resolutions)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("team", "customer__customer_profile")
        )
        busy = late_resolutions - {ticket.pk for ticket in tickets}
        clocks = [c for c in clocks if c.metric != Metric.RESOLUTION or c.ticket_id not in busy]
        _breaches_create(clocks, now=now)
        for ticket in tickets:
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


def _owners(ticket: Ticket) -> list:
    """Who answers for a ticket: its assignee, or every active member of its team (prefetched
    as `ticket.team.reachable_members`) while nobody has taken it."""
    if ticket.assignee_id:
        return [ticket.assignee] if ticket.assignee.is_active and ticket.assignee.email else []
    return ticket.team.reachable_members


def status_updates_remind(*, now: datetime.datetime, limit: int = SWEEP_BATCH) -> int:
    """Remind the owners of every status update that has fallen due, once per clock.

    The guide promises regular updates while work goes on; when one is owed the assignee (or,
    unassigned, the team) gets an email. The claim on `reminded_at` with SKIP LOCKED makes an
    overlapping sweep skip the clock, and a clock restarted by the update is a new clock.
    Reading the clocks and their owners costs the same queries however many are due; each
    email is one row in the outbox.
    """
    from django.contrib.auth import get_user_model

    from tickets import notifications

    reachable = (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .select_related("customer_profile")
        .order_by("pk")
    )
    with transaction.atomic():
        clocks = list(
            Clock.objects.filter(
                metric=Metric.STATUS_UPDATE,
                reminded_at__isnull=True,
                met_at__isnull=True,
                cancelled_at__isnull=True,
                paused_at__isnull=True,
                due_at__lte=now,
            )
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("ticket__assignee__customer_profile", "ticket__team")
            .prefetch_related(
                Prefetch("ticket__team__members", reachable, to_attr="reachable_members")
            )
            .order_by("due_at")[:limit]
        )
        if not clocks:
            return 0
        Clock.objects.filter(pk__in=[c.pk for c in clocks]).update(reminded_at=now)
        for clock in clocks:
            ticket = clock.ticket
            for agent in _owners(ticket):
                notifications.staff_email_queue(
                    to=agent.email,
                    template="sla/email/status_update_due",
                    context={"clock": clock, "ticket": ticket, "agent": agent},
                    language=notifications.language_of(agent),
                    purpose="status_update_due",
                    now=now,
                    ticket=ticket,
                )
    return len(clocks)
