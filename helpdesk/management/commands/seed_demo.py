from django.core.management.base import BaseCommand
from django.utils import timezone

from helpdesk.demo import DEMO_LOGINS, demo_seed


class Command(BaseCommand):
    help = (
        "Demo customers, agents in every team, a manager, an admin and tickets in every "
        "channel, for a first look. Does nothing on a database that has tickets."
    )

    def handle(self, *args, **options):
        seeded = demo_seed(now=timezone.now())
        if seeded is None:
            self.stdout.write("The database already has tickets: no demo data seeded.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo seeded: {seeded.customers} customers, {seeded.staff} staff, "
                f"{seeded.tickets} tickets."
            )
        )
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.role:<9} {login.username} / {login.password}")
