"""The acknowledgement of a new request: the SLA's promise (sla.services.acknowledgement), told
with what we already know, an open incident the request is linked to."""

import datetime

from sla.services import acknowledgement
from tickets.models import Message
from usecases.incidents import known_problem_note


def ticket_acknowledge(*, ticket_id: int, now: datetime.datetime) -> Message | None:
    """Acknowledge the request exactly once; None when it already was (or is gone)."""
    return acknowledgement.acknowledgement_send(
        ticket_id=ticket_id, now=now, note_for=known_problem_note
    )
