"""A ticket's status, with its clocks: shared by the verbs of every family."""

import datetime

from django.contrib.auth.models import AbstractBaseUser

from sla.services import clocks
from tickets import services as tickets
from tickets.models import Ticket


def status_change(
    ticket: Ticket,
    status: str,
    *,
    actor: AbstractBaseUser | None,
    now: datetime.datetime,
    action: str = "status_changed",
) -> None:
    """The ticket takes `status` and its clocks follow: paused, resumed, met or restarted."""
    old = tickets.ticket_status_set(ticket, status, actor=actor, now=now, action=action)
    if old is not None:
        clocks.clocks_on_status(
            ticket=ticket, old_status=old, now=now, reopened=tickets.is_reopening(old, status)
        )
