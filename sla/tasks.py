"""Celery tasks of the SLA engine: thin, take ids, call the service."""

from celery import shared_task
from django.utils import timezone

from sla import services


# Exactly once by the conditional UPDATE in the service; redelivery is harmless: acks_late.
@shared_task(name="sla.acknowledgement_send", acks_late=True, ignore_result=True)
def acknowledgement_send(ticket_id: int) -> bool:
    return services.acknowledgement_send(ticket_id=ticket_id, now=timezone.now()) is not None
