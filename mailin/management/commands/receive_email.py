"""File one email read on stdin: the delivery command an MTA pipes support@ mail into.

Exit codes follow sysexits.h, which MTAs understand: 0 filed or deliberately ignored,
65 (EX_DATAERR) refused, the reason on stderr (the MTA bounces it), 75 (EX_TEMPFAIL) the
database is unavailable (the MTA keeps the message and tries again).

Postfix, for example (master.cf):
    helpdesk unix - n n - - pipe flags=Rq user=helpdesk
      argv=/srv/helpdesk/.venv/bin/python /srv/helpdesk/manage.py receive_email
"""

import logging
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from mailin.filing import REFUSED, email_receive

log = logging.getLogger(__name__)

EX_DATAERR = 65
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = "Read one RFC 822 email on stdin and file it as a new ticket or a reply."
    # call_command(..., stdin=<binary file>) in tests, as Django's createsuperuser does.
    stealth_options = ("stdin",)

    def handle(self, *args, **options):
        stdin = options.get("stdin") or sys.stdin.buffer
        # One byte more than the limit is enough to know that it is too large.
        raw = stdin.read(settings.EMAIL_MAX_BYTES + 1)
        try:
            outcome = email_receive(raw=raw, now=timezone.now())
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
