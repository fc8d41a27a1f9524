"""Email in: one RFC 5322 message becomes a new ticket, a reply in its thread, or mail held for
a manager's review; every message that gets here is recorded (`tickets.InboundEmail`).

Both entry points, the `receive_email` pipe for an MTA and the `mail_receiver` SMTP server,
call `email_receive`. A `From:` header proves nothing: anyone can write any address in it. So
a message joins a thread only on a proof, and the sender's word alone never writes into one.
In this order:

1. refuse what is too large or malformed; count the attempt at the mail_in door (the
   connecting peer and the From address; over the limit the caller asks to try again later);
2. ignore what no person wrote (auto-replies, bounces, our own mail) and a second delivery;
3. hold mail from a staff address (staff act in the desk, never by plain email) and mail whose
   DMARC check failed at the trusted MTA in front (EMAIL_AUTHSERV_ID);
4. a signed reply address among the recipients (`tickets.reply_address`): a reply in that
   ticket as the user it was sent to, if they may still see it;
5. refuse a disabled sender, and an unknown one when so configured;
6. In-Reply-To/References naming an email we sent to this very address: a reply in its ticket;
7. the reference in the subject, the thread id <HD-...@domain>, a Message-ID the sender or we
   wrote in the thread: a reply only when the sender is authenticated (DMARC pass); otherwise a
   new ticket that says which request it may continue;
8. else a new ticket.

The answer names the ticket only to a sender who proved itself (4, 6 or DMARC pass). Filing
goes through the use cases in one transaction with the record, whose unique Message-ID makes a
redelivery racing the first delivery wait for it and then file nothing.
"""

import dataclasses
import datetime
import logging
import re
import secrets
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.roles import is_staff_role, user_role
from accounts.selectors import address_holder, customer_owning_address, language_of
from accounts.services import customer_register
from core.errors import Conflict
from core.throttle import Refused, door_knock
from mailin.content import Content, mail_content
from mailin.headers import DMARC_FAILED, DMARC_PASSED, Mail, clean_line, mail_parse
from tickets import notifications
from tickets.models import Category, Channel, InboundEmail, Message, OutboundEmail, Ticket
from tickets.reply_address import reply_address_parse
from tickets.selectors import access_ticket, tickets_visible_to
from usecases.tickets import ticket_open, ticket_reply

log = logging.getLogger(__name__)
User = get_user_model()

OPENED = "opened"
REPLIED = "replied"
HELD = "held"
IGNORED = "ignored"
REFUSED = "refused"

Reason = InboundEmail.Reason
# Why a message was refused; the SMTP receiver and the pipe command map these to replies.
TOO_LARGE = Reason.TOO_LARGE.value
MALFORMED = Reason.MALFORMED.value
UNKNOWN_SENDER = Reason.UNKNOWN_SENDER.value
DISABLED_SENDER = Reason.DISABLED_SENDER.value
# Why a message was held for review.
STAFF_SENDER = Reason.STAFF_SENDER.value
DMARC_FAIL = Reason.DMARC_FAIL.value
DUPLICATE = Reason.DUPLICATE.value
LOOP = Reason.LOOP.value

STATE_OF_RESULT = {
    OPENED: InboundEmail.State.FILED,
    REPLIED: InboundEmail.State.FILED,
    HELD: InboundEmail.State.HELD,
    IGNORED: InboundEmail.State.IGNORED,
    REFUSED: InboundEmail.State.REFUSED,
}
MAIL_DOOR = "mail_in"
RECIPIENTS_KEPT = 50

REFERENCE_RE = re.compile(r"(?<![\w-])HD-\d{4}-\d{6}(?!\d)")
THREAD_ID_RE = re.compile(r"^<(HD-\d{4}-\d{6})@([^>]+)>$")
SUBJECT_MAX = Ticket._meta.get_field("subject").max_length
SENDER_MAX = InboundEmail._meta.get_field("sender").max_length
USERNAME_BASE_MAX = 30
USERNAME_ATTEMPTS = 5


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of one email: `result` is opened, replied, held, ignored or refused; `code`
    says why it was held, ignored or refused, `reason` says it to a person. `proven`: the
    sender proved itself (a signed reply address, an answer to our email, DMARC pass), so the
    answer to the sending server may name the ticket."""

    result: str
    ticket: Ticket | None = None
    code: str = ""
    reason: str = ""
    proven: bool = False

    @property
    def filed(self) -> bool:
        return self.result in (OPENED, REPLIED)

    @property
    def reference(self) -> str:
        return self.ticket.reference if self.ticket is not None else ""

    def __str__(self) -> str:
        text = self.result
        if self.reference:
            text += f" {self.reference}"
        if self.reason:
            text += f": {self.reason}"
        return text


@dataclasses.dataclass(frozen=True)
class Match:
    """Who files an email and where: `user` None is a new customer for the sender; `ticket`
    the thread it joins; `unverified` a thread it names that the sender could not prove."""

    user: AbstractBaseUser | None
    ticket: Ticket | None = None
    proven: bool = False
    unverified: Ticket | None = None


def email_receive(
    *,
    raw: bytes,
    now: datetime.datetime,
    recipients: Sequence[str] = (),
    peer: str = "",
    header_recipients: bool = False,
) -> Outcome:
    """File one email, hold it, or say why not. `recipients` are the envelope's (RCPT TO, or
    what the MTA passes the pipe); `header_recipients` adds those of Delivered-To,
    X-Original-To, To and Cc. `peer` is the connecting SMTP client.

    Raises core.throttle.Refused over the mail_in door's limits: nothing is filed and the
    sending server should try again later. Database errors propagate too: they are transient
    (nothing was filed: one transaction)."""
    mail, problem = _read(raw)
    _knock(peer=peer, address=mail.address if mail else "")
    if problem:
        return _refused(*problem, mail=mail, recipients=recipients, now=now)
    if header_recipients:
        recipients = [*recipients, *mail.header_recipients]
    recipients = list(dict.fromkeys(recipients))[:RECIPIENTS_KEPT]
    settle = {"mail": mail, "recipients": recipients, "now": now}
    address, message_id = mail.address, mail.message_id
    log_id = message_id or "(no Message-ID)"
    if mail.automatic:
        return _ignored(mail.automatic, f"{mail.automatic} from {address} {log_id}", **settle)
    if message_id and OutboundEmail.objects.filter(rfc_message_id=message_id).exists():
        return _ignored(LOOP, f"our own email {message_id} came back", **settle)
    if is_staff_address(address):
        return _held(
            STAFF_SENDER,
            f"{address} is a staff address: staff never act by email",
            raw=raw,
            **settle,
        )
    if mail.dmarc == DMARC_FAILED:
        return _held(DMARC_FAIL, f"DMARC failed for {address}", raw=raw, **settle)
    try:
        with transaction.atomic():
            # The claim: a redelivery of this Message-ID waits here for this transaction.
            inbound = _record_new(state=InboundEmail.State.FILED, **settle)
            outcome = email_file(
                mail=mail, recipients=recipients, authenticated=mail.dmarc == DMARC_PASSED, now=now
            )
            InboundEmail.objects.filter(pk=inbound.pk).update(
                state=STATE_OF_RESULT[outcome.result], reason=outcome.code, ticket=outcome.ticket
            )
    except IntegrityError:
        if not _received_before(message_id):
            raise
        return _ignored(DUPLICATE, f"{message_id} already received", **settle)
    if outcome.result == REFUSED:
        log.warning("email refused (%s): %s", outcome.code, outcome.reason)
    else:
        log.info("email %s from %s: %s", log_id, address, outcome)
    return outcome


def email_file(
    *, mail: Mail, recipients: Sequence[str], authenticated: bool, now: datetime.datetime
) -> Outcome:
    """File a read email as a reply or a new ticket, or refuse it (a disabled or unknown
    sender, unreadable content), inside the caller's transaction. `authenticated`: the sender
    is who the From header says (DMARC pass, or a manager's review of held mail)."""
    decided = _decided(mail=mail, recipients=recipients, authenticated=authenticated)
    if isinstance(decided, Outcome):
        return decided
    language = language_of(decided.user) if decided.user is not None else mail.language
    with translation.override(language):
        try:
            content = mail_content(mail.msg)
        except Exception as exc:  # a MIME structure the library cannot walk
            return Outcome(
                REFUSED, code=MALFORMED, reason=f"unreadable content ({type(exc).__name__})"
            )
        return _file(mail=mail, match=decided, content=content, now=now)


def is_staff_address(address: str) -> bool:
    """Whether any staff account, active or not, has this address."""
    return User.objects.filter(
        Q(is_staff=True) | Q(is_superuser=True), email__iexact=address
    ).exists()


def _knock(*, peer: str, address: str) -> None:
    """Count the message at the mail_in door before any work: a flood costs one round trip to
    Redis per message. A cache outage lets mail in (logged), as a broker outage does: the
    customers' mail keeps flowing while Redis is away."""
    try:
        door_knock(MAIL_DOOR, {"ip": peer, "account": address})
    except Refused:
        raise
    except Exception:  # the cache's connection errors, whatever the client library
        log.warning("could not count mail from %s (%s) at the mail_in door", address, peer)


def _read(raw: bytes) -> tuple[Mail | None, tuple[str, str] | None]:
    """The parsed mail, and why it is refused (code, reason) when it is."""
    limit = settings.EMAIL_MAX_BYTES
    if len(raw) > limit:
        return None, (TOO_LARGE, f"message of {len(raw)} bytes exceeds the limit of {limit}")
    try:
        mail = mail_parse(raw)
    except Exception as exc:  # the parser's and the header registry's errors alike
        return None, (MALFORMED, f"unparsable message ({type(exc).__name__})")
    if not mail.address:
        return mail, (MALFORMED, "no valid sender address (From)")
    return mail, None


def _record_new(
    *,
    mail: Mail | None,
    recipients: Sequence[str],
    now: datetime.datetime,
    state: str,
    reason: str = "",
    raw: bytes | None = None,
) -> InboundEmail:
    return InboundEmail.objects.create(
        message_id=mail.message_id if mail else "",
        sender=mail.address[:SENDER_MAX] if mail else "",
        recipients="\n".join(recipients),
        subject=mail.subject[:SUBJECT_MAX] if mail else "",
        received_at=now,
        state=state,
        reason=reason,
        raw=raw,
    )


def _recorded(outcome: Outcome, *, raw: bytes | None = None, **settle) -> bool:
    """Record a mail that is not filed; False if its Message-ID was recorded before."""
    try:
        with transaction.atomic():
            _record_new(
                state=STATE_OF_RESULT[outcome.result], reason=outcome.code, raw=raw, **settle
            )
    except IntegrityError:
        return False
    return True


def _received_before(message_id: str) -> bool:
    return bool(message_id) and (
        InboundEmail.objects.filter(message_id=message_id).exists()
        or Message.objects.filter(email_message_id=message_id).exists()
    )


def _refused(code: str, reason: str, **settle) -> Outcome:
    log.warning("email refused (%s): %s", code, reason)
    outcome = Outcome(REFUSED, code=code, reason=reason)
    _recorded(outcome, **settle)
    return outcome


def _ignored(code: str, reason: str, **settle) -> Outcome:
    log.info("email ignored (%s): %s", code, reason)
    outcome = Outcome(IGNORED, code=code, reason=reason)
    _recorded(outcome, **settle)
    return outcome


def _held(code: str, reason: str, *, raw: bytes, **settle) -> Outcome:
    outcome = Outcome(HELD, code=code, reason=reason)
    if not _recorded(outcome, raw=raw, **settle):
        return _ignored(DUPLICATE, f"{settle['mail'].message_id} already received", **settle)
    log.warning("email from %s held for review (%s): %s", settle["mail"].address, code, reason)
    return outcome


def _unknown_senders() -> str:
    mode = settings.EMAIL_UNKNOWN_SENDERS
    if mode not in ("create", "reject"):
        raise ImproperlyConfigured("EMAIL_UNKNOWN_SENDERS must be 'create' or 'reject'.")
    return mode


def _decided(*, mail: Mail, recipients: Sequence[str], authenticated: bool) -> Match | Outcome:
    by_address = _by_reply_address(recipients)
    if by_address is not None:
        return by_address
    address = mail.address
    user = _user_by_address(address)
    if user is not None and not user.is_active:
        return Outcome(
            REFUSED, code=DISABLED_SENDER, reason=f"the account of {address} is disabled"
        )
    if user is None:
        if _unknown_senders() == "reject":
            return Outcome(
                REFUSED, code=UNKNOWN_SENDER, reason=f"{address} is not a known customer"
            )
        return Match(user=None, proven=authenticated)
    return _by_thread(mail, user, authenticated=authenticated)


def _by_reply_address(recipients: Sequence[str]) -> Match | None:
    """The first signed reply address among the recipients whose user may still see its
    ticket: the proof that the sender answers our email to that user."""
    for address in recipients:
        ids = reply_address_parse(address)
        if ids is None:
            continue
        ticket_id, user_id = ids
        owner = User.objects.filter(pk=user_id, is_active=True).first()
        # Addresses are made for customers; a staff member's reply never comes by email.
        if owner is None or is_staff_role(user_role(owner)):
            continue
        try:
            ticket = access_ticket(owner, ticket_id)
        except Http404:
            continue
        return Match(user=owner, ticket=ticket, proven=True)
    return None


def _by_thread(mail: Mail, user: AbstractBaseUser, *, authenticated: bool) -> Match:
    """A thread of `user` the email answers: by our email to this very address (proof), or by
    a name anyone could write (only for an authenticated sender; else named as unverified)."""
    ids = mail.thread_ids
    visible = tickets_visible_to(user)
    ours = (
        list(
            OutboundEmail.objects.filter(rfc_message_id__in=ids, ticket__isnull=False).values_list(
                "rfc_message_id", "ticket_id", "to"
            )
        )
        if ids
        else []
    )
    to_sender = {mid: pk for mid, pk, to in ours if to.lower() == mail.address.lower()}
    if to_sender:
        found = {t.pk: t for t in visible.filter(pk__in=to_sender.values())}
        for mid in ids:
            if to_sender.get(mid) in found:
                return Match(user=user, ticket=found[to_sender[mid]], proven=True)
    named = _named_thread(mail, user, visible, ours)
    if named is None:
        return Match(user=user, proven=authenticated)
    if authenticated:
        return Match(user=user, ticket=named, proven=True)
    return Match(user=user, proven=False, unverified=named)


def _named_thread(mail: Mail, user: AbstractBaseUser, visible, ours: list) -> Ticket | None:
    """The first visible ticket the email names: a Message-ID of ours (sent to another
    address) or the sender's own in its thread, the thread id, a reference in the subject.
    None of them proves the sender: the thread id and references are guessable, Message-IDs
    travel with every forwarded message."""
    ids = mail.thread_ids
    candidates: list[tuple[str, object]] = []
    if ids:
        by_outbox = {mid: pk for mid, pk, _to in ours}
        by_message = dict(
            Message.objects.filter(email_message_id__in=ids, author=user).values_list(
                "email_message_id", "ticket_id"
            )
        )
        domain = notifications.mail_domain().lower()
        for mid in ids:
            if mid in by_outbox:
                candidates.append(("pk", by_outbox[mid]))
            if mid in by_message:
                candidates.append(("pk", by_message[mid]))
            match = THREAD_ID_RE.match(mid)
            if match and match.group(2).lower() == domain:
                candidates.append(("reference", match.group(1)))
    candidates += [("reference", ref) for ref in REFERENCE_RE.findall(mail.subject)]
    if not candidates:
        return None
    pks = {value for kind, value in candidates if kind == "pk"}
    references = {value for kind, value in candidates if kind == "reference"}
    found = list(visible.filter(Q(pk__in=pks) | Q(reference__in=references)))
    by_pk = {ticket.pk: ticket for ticket in found}
    by_reference = {ticket.reference: ticket for ticket in found}
    for kind, value in candidates:
        ticket = by_pk.get(value) if kind == "pk" else by_reference.get(value)
        if ticket is not None:
            return ticket
    return None


def _file(*, mail: Mail, match: Match, content: Content, now: datetime.datetime) -> Outcome:
    user = match.user or _customer_create(
        address=mail.address, display_name=mail.display_name, language=mail.language
    )
    note = ""
    if match.ticket is not None:
        try:
            message, _created = ticket_reply(
                ticket_id=match.ticket.pk,
                author=user,
                body=content.body,
                channel=Channel.EMAIL,
                now=now,
                email_message_id=mail.message_id,
                attachments=content.attachments,
            )
        except Conflict as exc:
            if exc.code != "ticket_closed":
                raise
            note = _("This continues %(reference)s, which is closed.") % {
                "reference": match.ticket.reference
            }
        except Http404:
            # Access changed since the thread was found (e.g. the agent left the team).
            pass
        else:
            return Outcome(REPLIED, ticket=message.ticket, proven=match.proven)
    elif match.unverified is not None:
        note = _(
            "This may continue %(reference)s. The sender could not be verified, so the "
            "message was not added to that request."
        ) % {"reference": match.unverified.reference}
    subject = mail.subject
    body = content.body
    if note:
        subject = _subject_without_thread(subject)
        body = note + "\n\n" + body
    opened = ticket_open(
        customer=user,
        subject=(subject or _("(no subject)"))[:SUBJECT_MAX],
        body=body,
        category=Category.OTHER,
        channel=Channel.EMAIL,
        now=now,
        email_message_id=mail.message_id,
        attachments=content.attachments,
    )
    return Outcome(OPENED, ticket=opened, proven=match.proven)


REPLY_PREFIX_RE = re.compile(r"^\s*(?:(?:re|r|aw|sv|rif|fw|fwd|i)\s*:\s*)+", re.IGNORECASE)


def _subject_without_thread(subject: str) -> str:
    subject = REPLY_PREFIX_RE.sub("", subject)
    subject = re.sub(r"\[\s*HD-\d{4}-\d{6}\s*\]|HD-\d{4}-\d{6}", "", subject)
    return clean_line(subject)


def _user_by_address(address: str) -> AbstractBaseUser | None:
    """The account mail from `address` belongs to: the customer who owns the address (proven by
    a link or a reset, or made from their own email), else whoever else holds it (a staff
    account, or a disabled owner, whose mail is refused). A sign-up that never proved the
    address gets none of it: the sender is then unknown, and gets an account of their own."""
    return customer_owning_address(address) or address_holder(address)


def _customer_create(*, address: str, display_name: str, language: str) -> AbstractBaseUser:
    """A customer account for a new sender, under a username nobody has: customer_register
    creates and never updates, so a racing sender with the same local part gets an
    IntegrityError and the next name, never someone else's account."""
    base = _username_base(address)
    taken = {
        name.lower()
        for name in User.objects.filter(username__istartswith=base).values_list(
            "username", flat=True
        )
    }
    free = [name for name in [base, *(f"{base}{n}" for n in range(2, 100))] if name not in taken]
    for _attempt in range(USERNAME_ATTEMPTS):
        username = free.pop(0) if free else f"{base}-{secrets.token_hex(3)}"
        try:
            # No password: an unusable one; the customer may set one by a password reset.
            user = customer_register(
                username=username, email=address, password=None, language=language
            )
        except IntegrityError:
            continue
        break
    else:
        raise IntegrityError(f"no free username for {address}")
    first_name, _sep, last_name = display_name.partition(" ")
    if first_name:
        User.objects.filter(pk=user.pk).update(
            first_name=first_name[:150], last_name=last_name[:150]
        )
        user.first_name, user.last_name = first_name[:150], last_name[:150]
    log.info("email: new customer %s for %s", username, address)
    return user


def _username_base(address: str) -> str:
    local = address.rpartition("@")[0].lower()
    base = re.sub(r"[^a-z0-9._+-]+", "", local)[:USERNAME_BASE_MAX].strip("._+-")
    return base or "customer"
