from django.core.management.base import BaseCommand

from escalation.services import support_structure_setup


class Command(BaseCommand):
    help = (
        "Create what is missing of the default support structure (teams, working hours, staff "
        "groups); never overwrites what admins edited. Safe to run any number of times."
    )

    def handle(self, *args, **options):
        self.stdout.write(str(support_structure_setup()))
