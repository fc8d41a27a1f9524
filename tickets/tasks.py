"""Celery tasks of the conversation: thin, take ids, call the service."""

from celery import shared_task
from django.utils import timezone

from tickets import notifications


# Idempotent (the service claims the row by a conditional UPDATE), so a redelivery after a
# lost worker is harmless: acks_late.
@shared_task(name="tickets.email_deliver", acks_late=True, ignore_result=True)
def email_deliver(outbound_id: int) -> bool:
    return notifications.email_deliver(outbound_id=outbound_id, now=timezone.now())
