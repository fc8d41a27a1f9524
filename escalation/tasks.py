"""Celery tasks of escalation: thin, call the service."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from escalation import selectors, services


# Run by beat with the SLA sweep: measures the first line's queue and switches the overflow on
# or off (with hysteresis, under the policy row's lock). The next beat is the retry.
@shared_task(
    name="escalation.overflow_measure",
    ignore_result=True,
    soft_time_limit=settings.SLA_SWEEP_SECONDS * 4,
    time_limit=settings.SLA_SWEEP_SECONDS * 5,
)
def overflow_measure() -> bool:
    now = timezone.now()
    return services.overflow_update(load=selectors.first_line_load(now=now), now=now)
