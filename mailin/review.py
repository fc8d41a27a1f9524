"""A manager's review of held mail: file it as the customer's, or discard it.

Mail is held when its `From:` is a staff address (staff act in the desk, never by plain email:
such mail can only be discarded) or when the MTA in front found that DMARC failed for the
sender's domain (a customer whose provider signs badly; a manager who recognises the mail may
file it). Filing runs the rules of `email_receive` with the sender treated as authenticated;
either way the raw message is forgotten and who reviewed it, and when, is recorded.
"""

import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.roles import oversees_everything
from core.errors import Conflict, NotAllowed, ServiceError
from mailin.filing import REFUSED, STAFF_SENDER, Outcome, email_file, is_staff_address
from mailin.headers import mail_parse
from tickets.models import InboundEmail


def _reviewer_check(reviewer: AbstractBaseUser) -> None:
    if not (reviewer.is_active and oversees_everything(reviewer)):
        raise NotAllowed(_("Only managers and admins review held mail."))


def _held_locked(inbound_id: int) -> InboundEmail:
    inbound = (
        InboundEmail.objects.select_for_update()
        .filter(pk=inbound_id, state=InboundEmail.State.HELD)
        .first()
    )
    if inbound is None:
        raise Conflict(_("This email is not held any more."), code="not_held")
    return inbound


def held_file(*, inbound_id: int, reviewer: AbstractBaseUser, now: datetime.datetime) -> Outcome:
    """File held customer mail as a reply or a new ticket of its From customer, as the rules
    of `email_receive` would for an authenticated sender."""
    _reviewer_check(reviewer)
    with transaction.atomic():
        inbound = _held_locked(inbound_id)
        mail = mail_parse(bytes(inbound.raw))
        if inbound.reason == STAFF_SENDER or is_staff_address(mail.address):
            raise NotAllowed(_("Mail from a staff address is never filed; discard it."))
        recipients = inbound.recipients.split()
        try:
            with transaction.atomic():
                outcome = email_file(mail=mail, recipients=recipients, authenticated=True, now=now)
        except IntegrityError as exc:
            # The same email is in that thread already (a copy filed before it was held).
            raise Conflict(_("This email is filed already."), code="filed") from exc
        if outcome.result == REFUSED:
            raise ServiceError(
                _("Not filed: %(reason)s.") % {"reason": InboundEmail.Reason(outcome.code).label}
            )
        InboundEmail.objects.filter(pk=inbound.pk).update(
            state=InboundEmail.State.RELEASED,
            ticket=outcome.ticket,
            raw=None,
            reviewed_by=reviewer,
            reviewed_at=now,
        )
    return outcome


def held_discard(*, inbound_id: int, reviewer: AbstractBaseUser, now: datetime.datetime) -> None:
    """Forget held mail; the record of it stays, with who discarded it and when."""
    _reviewer_check(reviewer)
    discarded = InboundEmail.objects.filter(pk=inbound_id, state=InboundEmail.State.HELD).update(
        state=InboundEmail.State.DISCARDED, raw=None, reviewed_by=reviewer, reviewed_at=now
    )
    if not discarded:
        raise Conflict(_("This email is not held any more."), code="not_held")
