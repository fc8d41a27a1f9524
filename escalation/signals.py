"""A change of the routing rules, the teams or their hours makes every process read the routing
inputs again (`escalation.selectors.routing_inputs`): the version in the shared cache moves."""

import logging
import uuid

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from escalation.models import RoutingRule
from escalation.selectors import ROUTING_VERSION_KEY
from teams.models import Holiday, Team, WorkingHours

log = logging.getLogger(__name__)


def routing_inputs_changed(**kwargs) -> None:
    # Now, and again after COMMIT: a process that reads the inputs in between reads the old
    # rows, and must read again once the new ones are there.
    _version_bump()
    transaction.on_commit(_version_bump)


def _version_bump() -> None:
    try:
        cache.set(ROUTING_VERSION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:  # Redis down: processes read from the database until it is back
        log.warning("could not mark the routing inputs changed", exc_info=True)


def connect() -> None:
    for model in (RoutingRule, Team, WorkingHours, Holiday):
        for signal, change in ((post_save, "saved"), (post_delete, "deleted")):
            signal.connect(
                routing_inputs_changed,
                sender=model,
                dispatch_uid=f"escalation.routing_inputs.{model.__name__}.{change}",
            )
