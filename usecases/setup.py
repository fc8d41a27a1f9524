"""Setting up the support structure of the guide: teams, hours, staff groups and the first
version of the SLA policy; idempotent, never undoing what admins and managers edited."""

import datetime
from dataclasses import dataclass

from django.db import transaction

from sla.models import Policy
from sla.services.versions import policy_seed
from teams.services import SupportSetup, support_structure_setup


@dataclass(frozen=True)
class Setup:
    structure: SupportSetup
    policy: Policy
    policy_written: bool


def support_setup(*, now: datetime.datetime) -> Setup:
    with transaction.atomic():
        structure = support_structure_setup()
        policy, written = policy_seed(now=now)
    return Setup(structure=structure, policy=policy, policy_written=written)
