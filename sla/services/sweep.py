"""What the beat sweep does every few seconds: record the promises missed, tell the managers,
warn the owners of promises at risk, remind them of status updates due. Every step is a
conditional claim taken with SKIP LOCKED, so overlapping sweeps never act twice, and each reads
only what is due through a partial index."""

import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.roles import managers_to_tell
from accounts.selectors import language_of
from sla.models import Breach, Clock
from sla.policy import Metric
from sla.services.clocks import breaches_create
from tickets import notifications
from tickets.models import Ticket
from tickets.services import system_message_post

SWEEP_BATCH = 500


def clocks_open_due(*, now: datetime.datetime) -> QuerySet[Clock]:
    """Running, unpaused, unbreached clocks past due: what the sweep reads, by partial index."""
    return Clock.objects.filter(
        met_at__isnull=True,
        breached_at__isnull=True,
        cancelled_at__isnull=True,
        paused_at__isnull=True,
        due_at__lte=now,
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
        breaches_create(clocks, now=now)
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
    language = language_of(ticket.customer)
    message = system_message_post(
        ticket=ticket, body=delay_notice_text(ticket=ticket, language=language), now=now
    )
    notifications.email_queue(ticket=ticket, message=message, purpose="status", now=now)
    notifications.broadcast_message_on_commit(message)


def managers_notify(*, now: datetime.datetime, limit: int = SWEEP_BATCH) -> int:
    """Tell managers of every breach, once ("se ci sfuggono, il nostro management lo sa").

    One email per manager per sweep lists the new breaches; the claim on
    `managers_notified_at` makes a racing sweep skip them.
    """
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
        for manager in managers_to_tell():
            notifications.staff_email_queue(
                to=manager.email,
                template="sla/email/breaches",
                context={"breaches": breaches, "manager": manager},
                language=language_of(manager),
                purpose="breach_alert",
                now=now,
            )
    return len(breaches)


def clocks_at_risk_warn(
    *, now: datetime.datetime, margin_seconds: int, limit: int = SWEEP_BATCH
) -> int:
    """Warn the assignee (or, unassigned, the team) of a promise about to be missed, once."""
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
                    language=language_of(agent),
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
                    language=language_of(agent),
                    purpose="status_update_due",
                    now=now,
                    ticket=ticket,
                )
    return len(clocks)
