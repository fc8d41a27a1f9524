"""Email in: one RFC 5322 message becomes a new ticket or a reply in its thread.

Both entry points, the `receive_email` pipe for an MTA and the `mail_receiver` SMTP server,
call `email_receive`. It decides in this order: refuse (too large, malformed, unknown sender
when so configured), ignore (auto-replies, bounces, our own mail, a second delivery), reply
in a thread of the sender, open a ticket. Filing goes through the use cases, in one
transaction.
"""

import dataclasses
import datetime
import logging
import re
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.selectors import address_holder, customer_owning_address, language_of
from accounts.services import customer_register
from core.errors import Conflict
from mailin.content import Content, mail_content
from mailin.headers import Mail, clean_line, mail_parse
from tickets import notifications
from tickets.models import Category, Channel, Message, OutboundEmail, Ticket
from tickets.selectors import tickets_visible_to
from usecases.tickets import ticket_open, ticket_reply

log = logging.getLogger(__name__)
User = get_user_model()

OPENED = "opened"
REPLIED = "replied"
IGNORED = "ignored"
REFUSED = "refused"

# Why a message was refused; the SMTP receiver and the pipe command map these to replies.
TOO_LARGE = "too_large"
MALFORMED = "malformed"
UNKNOWN_SENDER = "unknown_sender"
DISABLED_SENDER = "disabled_sender"

REFERENCE_RE = re.compile(r"(?<![\w-])HD-\d{4}-\d{6}(?!\d)")
THREAD_ID_RE = re.compile(r"^<(HD-\d{4}-\d{6})@([^>]+)>$")
SUBJECT_MAX = Ticket._meta.get_field("subject").max_length
USERNAME_BASE_MAX = 30
USERNAME_ATTEMPTS = 5


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of one email: `result` is opened, replied, ignored or refused; `code` says
    why it was ignored or refused, `reason` says it to a person."""

    result: str
    ticket: Ticket | None = None
    code: str = ""
    reason: str = ""

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


def email_receive(*, raw: bytes, now: datetime.datetime) -> Outcome:
    """File one email, or say why not. Database errors propagate: they are transient, the
    caller asks the sending server to try again (nothing was filed: one transaction)."""
    limit = settings.EMAIL_MAX_BYTES
    if len(raw) > limit:
        return _refused(TOO_LARGE, f"message of {len(raw)} bytes exceeds the limit of {limit}")
    try:
        mail = mail_parse(raw)
    except Exception as exc:  # the parser's and the header registry's errors alike
        return _refused(MALFORMED, f"unparsable message ({type(exc).__name__})")
    address, message_id = mail.address, mail.message_id
    if not address:
        return _refused(MALFORMED, "no valid sender address (From)")
    log_id = message_id or "(no Message-ID)"
    if mail.automatic:
        return _ignored(mail.automatic, f"{mail.automatic} from {address} {log_id}")
    if message_id and OutboundEmail.objects.filter(rfc_message_id=message_id).exists():
        return _ignored("loop", f"our own email {message_id} came back")

    user = _user_by_address(address)
    if user is not None and not user.is_active:
        return _refused(DISABLED_SENDER, f"the account of {address} is disabled")
    if user is None and _unknown_senders() == "reject":
        return _refused(UNKNOWN_SENDER, f"{address} is not a known customer")
    if user is not None and message_id:
        # An MTA retrying after a lost answer delivers the same message again.
        earlier = (
            Message.objects.filter(email_message_id=message_id, author=user)
            .select_related("ticket")
            .first()
        )
        if earlier is not None:
            return _ignored("duplicate", f"{message_id} already filed", ticket=earlier.ticket)

    language = language_of(user) if user is not None else mail.language
    with translation.override(language):
        try:
            content = mail_content(mail.msg)
        except Exception as exc:  # a MIME structure the library cannot walk
            return _refused(MALFORMED, f"unreadable content ({type(exc).__name__})")
        with transaction.atomic():
            if user is None:
                user = _customer_create(
                    address=address, display_name=mail.display_name, language=language
                )
            outcome = _file(mail=mail, user=user, content=content, now=now)
    log.info("email %s from %s: %s", log_id, address, outcome)
    return outcome


def _refused(code: str, reason: str) -> Outcome:
    log.warning("email refused (%s): %s", code, reason)
    return Outcome(REFUSED, code=code, reason=reason)


def _ignored(code: str, reason: str, *, ticket: Ticket | None = None) -> Outcome:
    log.info("email ignored (%s): %s", code, reason)
    return Outcome(IGNORED, ticket=ticket, code=code, reason=reason)


def _unknown_senders() -> str:
    mode = settings.EMAIL_UNKNOWN_SENDERS
    if mode not in ("create", "reject"):
        raise ImproperlyConfigured("EMAIL_UNKNOWN_SENDERS must be 'create' or 'reject'.")
    return mode


def _thread(mail: Mail, user: AbstractBaseUser) -> Ticket | None:
    """The ticket this email answers, among those the sender may see (a forwarded Message-ID
    or a reference in a subject never lets anyone write into somebody else's ticket)."""
    ids = mail.thread_ids
    candidates: list[tuple[str, object]] = []
    if ids:
        by_outbox = dict(
            OutboundEmail.objects.filter(rfc_message_id__in=ids, ticket__isnull=False).values_list(
                "rfc_message_id", "ticket_id"
            )
        )
        by_message = dict(
            Message.objects.filter(email_message_id__in=ids).values_list(
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
    visible = list(tickets_visible_to(user).filter(Q(pk__in=pks) | Q(reference__in=references)))
    by_pk = {ticket.pk: ticket for ticket in visible}
    by_reference = {ticket.reference: ticket for ticket in visible}
    for kind, value in candidates:
        ticket = by_pk.get(value) if kind == "pk" else by_reference.get(value)
        if ticket is not None:
            return ticket
    return None


def _file(
    *, mail: Mail, user: AbstractBaseUser, content: "Content", now: datetime.datetime
) -> Outcome:
    ticket = _thread(mail, user)
    follows = ""
    if ticket is not None:
        try:
            message, _created = ticket_reply(
                ticket_id=ticket.pk,
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
            follows = ticket.reference
        except Http404:
            # Access changed since the thread was found (e.g. the agent left the team).
            pass
        else:
            return Outcome(REPLIED, ticket=message.ticket)
    subject = mail.subject
    body = content.body
    if follows:
        subject = _subject_without_thread(subject)
        body = (
            _("This continues %(reference)s, which is closed.") % {"reference": follows}
            + "\n\n"
            + body
        )
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
    return Outcome(OPENED, ticket=opened)


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
