from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _

from usecases.setup import support_setup


class Command(BaseCommand):
    help = (
        "Create what is missing of the default support structure (teams, working hours, staff "
        "groups) and the first version of the SLA policy; never overwrites what admins or "
        "managers edited. Safe to run any number of times."
    )

    def handle(self, *args, **options):
        setup = support_setup(now=timezone.now())
        policy = (
            _("SLA policy version %(version)d written from the defaults.")
            if setup.policy_written
            else _("SLA policy already in place (current version %(version)d).")
        ) % {"version": setup.policy.version}
        rules = _("%(count)d routing rules of the guide added.") % {"count": setup.rules_created}
        self.stdout.write(f"{setup.structure} {policy} {rules}")
