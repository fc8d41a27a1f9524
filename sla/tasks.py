"""Celery tasks of the SLA engine: thin, take ids, call the service."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from sla.services import acknowledgement
from sla.services import sweep as sweeping
from tickets import notifications
from tickets.tasks import email_deliver


# Exactly once by the conditional UPDATE in the service; redelivery is harmless: acks_late.
@shared_task(name="sla.acknowledgement_send", acks_late=True, ignore_result=True)
def acknowledgement_send(ticket_id: int) -> bool:
    return acknowledgement.acknowledgement_send(ticket_id=ticket_id, now=timezone.now()) is not None


# Run by beat every few seconds; every step is a conditional claim, so two overlapping sweeps
# (a slow one and the next) never act twice. Not acks_late: the next beat is the retry.
@shared_task(
    name="sla.sweep",
    ignore_result=True,
    soft_time_limit=settings.SLA_SWEEP_SECONDS * 4,
    time_limit=settings.SLA_SWEEP_SECONDS * 5,
)
def sweep() -> dict:
    now = timezone.now()
    acknowledged = 0
    for ticket_id in list(
        acknowledgement.acknowledgements_missing(now=now)[: sweeping.SWEEP_BATCH]
    ):
        acknowledged += (
            acknowledgement.acknowledgement_send(ticket_id=ticket_id, now=now) is not None
        )
    breached = sweeping.breaches_record(now=now)
    notified = sweeping.managers_notify(now=now)
    warned = sweeping.clocks_at_risk_warn(
        now=now, margin_seconds=settings.SLA_WARNING_MARGIN_SECONDS
    )
    reminded = sweeping.status_updates_remind(now=now)
    for outbound_id in notifications.outbox_due(now=now):
        email_deliver.delay(outbound_id)
    return {
        "acknowledged": acknowledged,
        "breached": len(breached),
        "managers_notified": notified,
        "warned": warned,
        "status_updates_reminded": reminded,
    }
