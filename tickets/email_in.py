"""Email in: one RFC 5322 message becomes a new ticket or a reply in its thread.

Both entry points, the `receive_email` pipe for an MTA and the `mail_receiver` SMTP server,
call `email_receive`. It decides in this order: refuse (too large, malformed, unknown sender
when so configured), ignore (auto-replies, bounces, our own mail, a second delivery), reply
in a thread of the sender, open a ticket. Filing goes through `tickets.services`, in one
transaction.
"""

import dataclasses
import datetime
import email
import email.policy
import email.utils
import logging
import mimetypes
import re
import secrets
from email.message import EmailMessage
from html.parser import HTMLParser

import nh3
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext as _

from tickets import notifications, services
from tickets.attachments import MAX_FILES_PER_MESSAGE, clean_filename
from tickets.errors import Conflict, ServiceError
from tickets.models import Category, Channel, Message, OutboundEmail, Ticket
from tickets.selectors import tickets_visible_to

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
MESSAGE_ID_RE = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")
THREAD_ID_RE = re.compile(r"^<(HD-\d{4}-\d{6})@([^>]+)>$")
# At most this many ids of In-Reply-To/References are looked up: a thread's newest ones.
REFERENCES_CONSIDERED = 20
SUBJECT_MAX = Ticket._meta.get_field("subject").max_length
MESSAGE_ID_MAX = Message._meta.get_field("email_message_id").max_length
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
        mail = _parse(raw)
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

    language = notifications.language_of(user) if user is not None else mail.language
    with translation.override(language):
        try:
            content = _content(mail.msg)
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


# --- Headers -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Mail:
    """What the headers say, read once, up front: a header the library cannot parse makes
    the whole message malformed rather than failing halfway through filing."""

    msg: EmailMessage
    display_name: str
    address: str
    message_id: str
    subject: str
    thread_ids: list[str]
    automatic: str
    language: str


def _parse(raw: bytes) -> _Mail:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    display_name, address = _sender(msg)
    return _Mail(
        msg=msg,
        display_name=display_name,
        address=address,
        message_id=_message_id(msg),
        subject=_clean_line(msg.get("Subject", "")),
        thread_ids=_referenced_ids(msg),
        automatic=_automatic(msg, address) if address else "",
        language=_language_guess(msg),
    )


def _sender(msg: EmailMessage) -> tuple[str, str]:
    header = msg.get("From")
    for mailbox in getattr(header, "addresses", ()):
        address = mailbox.addr_spec
        try:
            validate_email(address)
        except ValidationError:
            continue
        return _clean_line(mailbox.display_name), address
    return "", ""


def _message_id(msg: EmailMessage) -> str:
    match = MESSAGE_ID_RE.search(str(msg.get("Message-ID", "")))
    if match is None or len(match.group()) > MESSAGE_ID_MAX:
        return ""
    return match.group()


def _address_of(value: str) -> str:
    return email.utils.parseaddr(value)[1].lower()


def _automatic(msg: EmailMessage, address: str) -> str:
    """Why this is mail no person wrote to us (RFC 3834 and common practice), or ""."""
    auto_submitted = str(msg.get("Auto-Submitted", "")).split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return "auto_reply"
    if str(msg.get("Precedence", "")).strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return "auto_reply"
    if any(name in msg for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")):
        return "auto_reply"
    if msg.get_content_type() == "multipart/report":
        return "bounce"
    if address.partition("@")[0].lower() == "mailer-daemon":
        return "bounce"
    return_path = msg.get("Return-Path")
    if return_path is not None and str(return_path).strip() in ("", "<>"):
        return "bounce"
    ours = {settings.SUPPORT_EMAIL.lower(), _address_of(settings.DEFAULT_FROM_EMAIL)}
    if address.lower() in ours:
        return "loop"
    return ""


def _language_guess(msg: EmailMessage) -> str:
    known = {code for code, _name in settings.LANGUAGES}
    for tag in str(msg.get("Content-Language", "")).split(","):
        code = tag.strip().split("-")[0].lower()
        if code in known:
            return code
    return settings.LANGUAGE_CODE


def _text_safe(text: str) -> str:
    """Text a database accepts: 8-bit bytes of a header the parser kept as surrogates become
    U+FFFD, and NUL (which PostgreSQL refuses) goes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "")


def _clean_line(text: str) -> str:
    return " ".join(_text_safe(str(text or "")).split())


def _referenced_ids(msg: EmailMessage) -> list[str]:
    """In-Reply-To first, then References from the newest: the likeliest thread first."""
    ids = MESSAGE_ID_RE.findall(str(msg.get("In-Reply-To", "")))
    ids += reversed(MESSAGE_ID_RE.findall(str(msg.get("References", ""))))
    return list(dict.fromkeys(ids))[:REFERENCES_CONSIDERED]


# --- Thread --------------------------------------------------------------------------------


def _thread(mail: _Mail, user: AbstractBaseUser) -> Ticket | None:
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
    *, mail: _Mail, user: AbstractBaseUser, content: "_Content", now: datetime.datetime
) -> Outcome:
    ticket = _thread(mail, user)
    follows = ""
    if ticket is not None:
        try:
            message, _created = services.ticket_reply(
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
    opened = services.ticket_open(
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
    return _clean_line(subject)


# --- Sender --------------------------------------------------------------------------------


def _user_by_address(address: str) -> AbstractBaseUser | None:
    # An active account wins over a disabled one with the same address; then the oldest.
    return User.objects.filter(email__iexact=address).order_by("-is_active", "pk").first()


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
            user = services.customer_register(
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


# --- Content -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Content:
    body: str
    attachments: list[SimpleUploadedFile]


def _content(msg: EmailMessage) -> _Content:
    """The text and the acceptable files of an email; refused files are named in the text."""
    body_part = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body_part is not None:
        text = _text_of(body_part)
        if body_part.get_content_subtype() == "html":
            text = html_to_text(text)
    text = trim_quoted(_normalise(text))
    uploads, notes = _attachments(msg, body_part)
    body = text or _("(no text)")
    if notes:
        body += "\n\n" + "\n".join(notes)
    return _Content(body=body, attachments=uploads)


def _text_of(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, ValueError):  # unknown charset or broken encoding
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def _normalise(text: str) -> str:
    return _text_safe(text).replace("\r\n", "\n").replace("\r", "\n")


def _leaves(part: EmailMessage):
    """The parts that carry content; a forwarded message (message/rfc822) stays whole."""
    if part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            yield from _leaves(sub)
    else:
        yield part


def _attachments(
    msg: EmailMessage, body_part: EmailMessage | None
) -> tuple[list[SimpleUploadedFile], list[str]]:
    uploads: list[SimpleUploadedFile] = []
    notes: list[str] = []
    for part in _leaves(msg):
        if part is body_part:
            continue
        filename = part.get_filename()
        if (
            not filename
            and part.get_content_disposition() != "attachment"
            and part.get_content_maintype() == "text"
        ):
            continue  # the other alternative of the body (text/html beside text/plain)
        content_type = part.get_content_type()
        name = clean_filename(
            filename or "attachment" + (mimetypes.guess_extension(content_type) or "")
        )
        upload = SimpleUploadedFile(name, _bytes_of(part), content_type=content_type)
        try:
            if len(uploads) >= MAX_FILES_PER_MESSAGE:
                raise ServiceError(
                    _("at most %(n)s files per message") % {"n": MAX_FILES_PER_MESSAGE}
                )
            services.attachments_check([upload])
        except ServiceError as exc:
            notes.append(
                _("[attachment %(name)s was not accepted: %(reason)s]")
                % {"name": name, "reason": exc.detail}
            )
            continue
        uploads.append(upload)
    return uploads, notes


def _bytes_of(part: EmailMessage) -> bytes:
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        return inner.as_bytes() if isinstance(inner, email.message.Message) else b""
    return part.get_payload(decode=True) or b""


# --- Text ----------------------------------------------------------------------------------

QUOTE_HEADS = (
    re.compile(r"^On\s.+\swrote:$", re.DOTALL),
    re.compile(r"^Il\s.+\sha scritto:$", re.DOTALL),
    re.compile(r"^-{2,}\s*(?:Original Message|Messaggio originale)\s*-{2,}$", re.IGNORECASE),
)
# Outlook's plain-text reply: a line of underscores, then the quoted message's "From:".
OUTLOOK_RULE_RE = re.compile(r"^_{10,}$")
OUTLOOK_FROM_RE = re.compile(r"^(?:From|Da):\s")
# An attribution line may be wrapped over this many lines by the sender's client.
ATTRIBUTION_LINES = 3


def trim_quoted(text: str) -> str:
    """The new part of a reply: without the quoted history (from the "On ... wrote:" line
    on, and every line quoted with ">"). Never empty when the text was not: then the whole."""
    lines = text.split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if OUTLOOK_RULE_RE.match(stripped) and any(
            OUTLOOK_FROM_RE.match(following.strip()) for following in lines[i + 1 : i + 3]
        ):
            cut = i
            break
        if not stripped.startswith(("On ", "Il ", "-")):
            continue
        joined = ""
        for following in lines[i : i + ATTRIBUTION_LINES]:
            joined = f"{joined} {following.strip()}".strip()
            if any(head.match(joined) for head in QUOTE_HEADS):
                cut = i
                break
        if cut != len(lines):
            break
    kept = [line.rstrip() for line in lines[:cut] if not line.lstrip().startswith(">")]
    trimmed = _squeeze("\n".join(kept))
    return trimmed or _squeeze(text)


def _squeeze(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# Tags whose content is never text for a person.
_DROPPED_CONTENT = {"script", "style", "title", "head", "template", "svg", "math", "noscript"}
_PARAGRAPHS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol"}
_LINES = {"div", "tr", "li", "dt", "dd", "hr", "section", "article", "header", "footer"}


class _TextExtractor(HTMLParser):
    """Text with the line structure of the HTML: blocks start lines, paragraphs are separated
    by a blank line, `<br>` breaks a line; breaks are emitted only before more text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[tuple[str, int]] = []
        self.pre = 0
        self.breaks = 0

    def _break(self, lines: int) -> None:
        self.breaks = max(self.breaks, lines)

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.breaks += 1
        elif tag in _PARAGRAPHS:
            self._break(2)
        elif tag in _LINES:
            self._break(1)
        if tag == "li":
            self.handle_data("- ")
        elif tag == "pre":
            self.pre += 1
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))

    def handle_endtag(self, tag):
        if tag in _PARAGRAPHS:
            self._break(2)
        elif tag in _LINES:
            self._break(1)
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.parts[start:]).strip()
            if href and href.removeprefix("mailto:") not in label:
                self.handle_data(f" ({href})" if label else href)

    def handle_data(self, data):
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
        if not data.strip():
            if not self.breaks:
                self.parts.append(data)
            return
        if self.breaks and self.parts:
            self.parts.append("\n" * self.breaks)
        self.breaks = 0
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML email: dangerous content dropped (nh3), tags stripped, line
    breaks kept, links kept as text."""
    safe = nh3.clean(
        html,
        clean_content_tags=_DROPPED_CONTENT,
        attributes={"a": {"href"}},
        link_rel=None,
    )
    parser = _TextExtractor()
    parser.feed(safe)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    return _squeeze("\n".join(lines))
