from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from accounts.services import customer_upsert


class Command(BaseCommand):
    help = "Create or update a customer account and its profile."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--language", default="en", choices=[code for code, _name in settings.LANGUAGES]
        )

    def handle(self, *args, **options):
        username, email = options["username"], options["email"]
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(_("%(email)s is not an email address.") % {"email": email}) from exc
        existing = get_user_model().objects.filter(username=username).first()
        # customer_upsert makes the account a customer: refuse rather than demote staff.
        if existing is not None and (existing.is_staff or existing.is_superuser):
            raise CommandError(
                _("%(username)s is a staff account; use another username for the customer.")
                % {"username": username}
            )
        customer_upsert(
            username=username,
            email=email,
            password=options["password"],
            language=options["language"],
        )
        message = (
            _("Updated customer %(username)s <%(email)s>, language %(language)s.")
            if existing
            else _("Created customer %(username)s <%(email)s>, language %(language)s.")
        )
        self.stdout.write(
            message % {"username": username, "email": email, "language": options["language"]}
        )
