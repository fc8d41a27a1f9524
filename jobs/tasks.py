"""The tasks whose work is a use case: thin, ids in, the use case called with the clock's now.
Task names are the broker's contract and stay as they were when these lived in `sla`."""

import time

from celery import current_app, shared_task
from django.conf import settings
from django.utils import timezone

from sla.services import acknowledgement
from sla.services import sweep as sweeping
from tickets import notifications
from tickets.tasks import email_deliver
from usecases import incidents
from usecases.acknowledgement import ticket_acknowledge

# A fan-out task posts batches for this long, then hands the rest to a fresh task: well under
# the task's time limit, and other work gets the worker in between.
DELIVERY_BUDGET_SECONDS = 30


# Exactly once by the conditional UPDATE in the service; redelivery is harmless: acks_late.
@shared_task(name="sla.acknowledgement_send", acks_late=True, ignore_result=True)
def acknowledgement_send(ticket_id: int) -> bool:
    return ticket_acknowledge(ticket_id=ticket_id, now=timezone.now()) is not None


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
        acknowledged += ticket_acknowledge(ticket_id=ticket_id, now=now) is not None
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


# Each batch claims its rows under SKIP LOCKED and marks them in its own transaction: a second
# copy of the task (a redelivery after a lost worker: acks_late) shares the rest, never a row.
@shared_task(name="incidents.deliver", acks_late=True, ignore_result=True)
def deliver() -> int:
    """An incident's updates and credit decisions into every linked thread, in batches; what is
    left after the budget goes to a fresh task."""
    started, posted = time.monotonic(), 0
    while time.monotonic() - started < DELIVERY_BUDGET_SECONDS:
        done = incidents.fanout_batch(now=timezone.now())
        posted += done
        if done < incidents.DELIVERY_BATCH:
            return posted
    current_app.send_task(incidents.DELIVER_TASK)
    return posted


# Run by beat: starts the fan-out a lost task left undone, and watches for surges. The next
# beat is the retry.
@shared_task(
    name="incidents.watch",
    ignore_result=True,
    soft_time_limit=settings.SLA_SWEEP_SECONDS * 4,
    time_limit=settings.SLA_SWEEP_SECONDS * 5,
)
def watch() -> dict:
    now = timezone.now()
    stalled = incidents.deliveries_stalled(now=now)
    if stalled:
        current_app.send_task(incidents.DELIVER_TASK)
    return {"stalled": stalled, "surges": len(incidents.surges_check(now=now))}
