"""File one email read on stdin: the delivery command an MTA pipes support@ mail into.

Exit codes follow sysexits.h, which MTAs understand: 0 filed, held for review or
deliberately ignored, 65 (EX_DATAERR) refused, the reason on stderr (the MTA bounces it),
75 (EX_TEMPFAIL) over the mail_in door's limits or the database is unavailable (the MTA keeps
the message and tries again).

`--recipient` is the envelope recipient, where a reply to our email carries its signed reply
address (support+<token>@); without it the address is looked for in Delivered-To,
X-Original-To, To and Cc. Postfix, for example (master.cf; one recipient per delivery, so
set `helpdesk_destination_recipient_limit = 1` in main.cf):
    helpdesk unix - n n - - pipe flags=Rq user=helpdesk
      argv=/srv/helpdesk/.venv/bin/python /srv/helpdesk/manage.py receive_email
      --recipient ${recipient}
"""

import logging
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from core.throttle import Refused
from mailin.filing import REFUSED, email_receive

log = logging.getLogger(__name__)

EX_DATAERR = 65
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = "Read one RFC 822 email on stdin and file it as a new ticket or a reply."
    # call_command(..., stdin=<binary file>) in tests, as Django's createsuperuser does.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument(
            "--recipient",
            action="append",
            default=[],
            help="The envelope recipient (Postfix: ${recipient}); may be repeated.",
        )

    def handle(self, *args, **options):
        stdin = options.get("stdin") or sys.stdin.buffer
        # One byte more than the limit is enough to know that it is too large.
        raw = stdin.read(settings.EMAIL_MAX_BYTES + 1)
        try:
            outcome = email_receive(
                raw=raw,
                now=timezone.now(),
                recipients=options["recipient"],
                header_recipients=True,
            )
        except Refused as refused:
            raise CommandError(
                f"too many messages, try again in {refused.retry_after} seconds",
                returncode=EX_TEMPFAIL,
            ) from refused
        except (OperationalError, InterfaceError, OSError) as exc:
            raise CommandError(
                f"temporary failure, try again later: {type(exc).__name__}: {exc}",
                returncode=EX_TEMPFAIL,
            ) from exc
        except Exception as exc:
            # A bug or a bad setting: the MTA keeps the message until it is fixed, as the
            # SMTP receiver's 451 does, instead of bouncing it to the customer.
            log.exception("email not filed; the MTA will retry")
            raise CommandError(
                f"temporary failure, try again later: {type(exc).__name__}",
                returncode=EX_TEMPFAIL,
            ) from exc
        if outcome.result == REFUSED:
            raise CommandError(f"refused: {outcome.reason}", returncode=EX_DATAERR)
        self.stdout.write(str(outcome))
