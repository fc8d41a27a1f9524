"""The automatic acknowledgement, exactly once per request: within 2 minutes for a ticket and
1 minute for a chat, as the guide promises."""

import datetime
from collections.abc import Callable

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.selectors import language_of
from sla import policy
from sla.models import Clock
from sla.policy import Metric
from sla.services.clocks import clocks_meet, next_due_refresh
from tickets import notifications
from tickets.models import Channel, Message, Ticket
from tickets.services import system_message_post


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


def acknowledgement_send(
    *,
    ticket_id: int,
    now: datetime.datetime,
    note_for: Callable[[Ticket], str] | None = None,
) -> Message | None:
    """Acknowledge a request exactly once; `note_for(ticket)`, asked only once the clock is
    claimed, adds what follows the acknowledgement in the customer's language (a known problem,
    from `usecases.acknowledgement`).

    A conditional UPDATE claims the clock; only the caller whose UPDATE changed the row posts
    the system message and queues the email. Duplicate deliveries, retries and racing sweeps
    find nothing to claim; a worker killed before COMMIT leaves the clock for the sweep.
    """
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
        claimed = unmet.filter(due_at__gte=now).update(met_at=now) or clocks_meet(unmet, now=now)
        if not claimed:
            return None
        next_due_refresh(ticket=ticket)
        language = language_of(ticket.customer)
        body = acknowledgement_text(
            ticket=ticket,
            language=language,
            first_response_seconds=ticket.first_response_seconds
            or policy.DEFAULT_TARGETS.first_response,
        )
        note = note_for(ticket) if note_for else ""
        if note:
            body = f"{body}\n\n{note}"
        message = system_message_post(ticket=ticket, body=body, now=now)
        if ticket.channel != Channel.CHAT:
            notifications.email_queue(
                ticket=ticket, message=message, purpose="acknowledgement", now=now
            )
        notifications.broadcast_message_on_commit(message)
    return message


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
