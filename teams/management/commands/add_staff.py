from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from teams.services import staff_upsert


class Command(BaseCommand):
    help = "Create or update an agent (or, with --manager, a manager) in the given teams."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument(
            "--team",
            dest="teams",
            action="append",
            required=True,
            metavar="SLUG",
            help="A team the agent works in; repeat for several. Replaces current memberships.",
        )
        parser.add_argument("--manager", action="store_true", help="Member of `managers`.")
        parser.add_argument("--email", default="")

    def handle(self, *args, **options):
        try:
            user, created = staff_upsert(
                username=options["username"],
                password=options["password"],
                teams=options["teams"],
                manager=options["manager"],
                email=options["email"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        role = _("manager") if options["manager"] else _("agent")
        message = (
            _("Created %(role)s %(username)s in %(teams)s.")
            if created
            else _("Updated %(role)s %(username)s in %(teams)s.")
        )
        teams = ", ".join(dict.fromkeys(options["teams"]))
        self.stdout.write(message % {"role": role, "username": user.username, "teams": teams})
