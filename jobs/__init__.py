"""The worker's door: Celery tasks whose work is a use case (the acknowledgement that may say a
problem is known, the SLA sweep, the fan-out of an incident's updates). Thin: ids in, the use
case called with the clock's `now`."""
