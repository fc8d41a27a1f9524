"""Setting up the support structure of the guide: teams, hours, staff groups, the first version
of the SLA policy and the guide's routing rules; idempotent, never undoing what admins and
managers edited."""

import datetime
from dataclasses import dataclass

from django.db import transaction

from escalation.services import routing_rules_setup
from sla.models import Policy
from sla.services.versions import policy_seed
from teams.services import SupportSetup, support_structure_setup


@dataclass(frozen=True)
class Setup:
    structure: SupportSetup
    policy: Policy
    policy_written: bool
    rules_created: int


def support_setup(*, now: datetime.datetime) -> Setup:
    with transaction.atomic():
        structure = support_structure_setup()
        policy, written = policy_seed(now=now)
        rules = routing_rules_setup()
    return Setup(structure=structure, policy=policy, policy_written=written, rules_created=rules)
