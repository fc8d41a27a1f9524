"""Review held mail (mailin.review) from a shell, as the desk's actions do.

    python manage.py mail_held                                   the held mail, oldest first
    python manage.py mail_held file 12 14 --reviewer marta       file as the customer's mail
    python manage.py mail_held discard 13 --reviewer marta       forget it

Each line of the output says what became of one email; if any could not be reviewed, the
command fails (exit 1) with one line per problem, after reviewing the others.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ServiceError
from mailin.review import held_discard, held_file
from tickets.models import InboundEmail

User = get_user_model()


class Command(BaseCommand):
    help = "List held mail, or file or discard it as a manager."

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", choices=["file", "discard"])
        parser.add_argument("ids", nargs="*", type=int)
        parser.add_argument("--reviewer", help="The username of the manager or admin reviewing.")

    def handle(self, *args, **options):
        if options["action"] is None:
            return self.listed()
        reviewer = User.objects.filter(username=options["reviewer"] or "").first()
        if reviewer is None:
            raise CommandError(_("Say who reviews with --reviewer <username>."))
        done, problems = [], []
        for inbound_id in options["ids"]:
            try:
                if options["action"] == "file":
                    outcome = held_file(
                        inbound_id=inbound_id, reviewer=reviewer, now=timezone.now()
                    )
                    done.append(
                        _("Email %(id)s: filed in %(reference)s.")
                        % {"id": inbound_id, "reference": outcome.reference}
                    )
                else:
                    held_discard(inbound_id=inbound_id, reviewer=reviewer, now=timezone.now())
                    done.append(_("Email %(id)s: discarded.") % {"id": inbound_id})
            except ServiceError as exc:
                problems.append(
                    _("Email %(id)s: %(problem)s") % {"id": inbound_id, "problem": exc.detail}
                )
        if problems:
            if done:
                self.stdout.write("\n".join(done))
            raise CommandError("\n".join(problems))
        return "\n".join(done)

    def listed(self) -> str:
        held = InboundEmail.objects.filter(state=InboundEmail.State.HELD).order_by("received_at")
        return "\n".join(
            f"{inbound.pk}\t{inbound.received_at:%Y-%m-%d %H:%M}\t{inbound.reason}\t"
            f"{inbound.sender}\t{inbound.subject}"
            for inbound in held.defer("raw")
        )
