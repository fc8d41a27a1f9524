from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _

from escalation.services import support_structure_setup
from sla.services import policy_seed


class Command(BaseCommand):
    help = (
        "Create what is missing of the default support structure (teams, working hours, staff "
        "groups) and the first version of the SLA policy; never overwrites what admins or "
        "managers edited. Safe to run any number of times."
    )

    def handle(self, *args, **options):
        summary = support_structure_setup()
        version, created = policy_seed(now=timezone.now())
        policy = (
            _("SLA policy version %(version)d written from the defaults.")
            if created
            else _("SLA policy already in place (current version %(version)d).")
        ) % {"version": version.version}
        self.stdout.write(f"{summary} {policy}")
