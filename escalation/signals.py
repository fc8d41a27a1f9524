"""A change of the routing rules, the teams or their hours makes every process read the routing
inputs again (`escalation.selectors.routing_inputs`)."""

from django.db.models.signals import post_delete, post_save

from escalation.models import RoutingRule
from escalation.selectors import routing_rules_and_teams
from teams.models import Holiday, Team, WorkingHours


def routing_inputs_changed(**kwargs) -> None:
    routing_rules_and_teams.changed()


def connect() -> None:
    for model in (RoutingRule, Team, WorkingHours, Holiday):
        for signal, change in ((post_save, "saved"), (post_delete, "deleted")):
            signal.connect(
                routing_inputs_changed,
                sender=model,
                dispatch_uid=f"escalation.routing_inputs.{model.__name__}.{change}",
            )
