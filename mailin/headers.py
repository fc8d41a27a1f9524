"""What an inbound email's headers say, read once, up front: the sender, the Message-ID, the
thread it answers, whether a person wrote it at all (RFC 3834), its language, whom it was
addressed to and what the MTA in front found when it checked the sender (RFC 8601)."""

import dataclasses
import email
import email.policy
import email.utils
import re
from email.message import EmailMessage

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from core.text import bidi_controls_removed
from tickets.models import Message

MESSAGE_ID_RE = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")
# At most this many ids of In-Reply-To/References are looked up: a thread's newest ones.
REFERENCES_CONSIDERED = 20
MESSAGE_ID_MAX = Message._meta.get_field("email_message_id").max_length
# Where an MTA leaves the address a message was delivered to, the envelope's first.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To", "Cc")
RECIPIENTS_CONSIDERED = 50
DMARC_PASSED = "pass"
DMARC_FAILED = "fail"


@dataclasses.dataclass(frozen=True)
class Mail:
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
    # The addresses of RECIPIENT_HEADERS, for a pipe that was not told the envelope's.
    header_recipients: list[str]
    # DMARC for the From domain as the trusted MTA found it: "pass", "fail" or "" (no verdict).
    dmarc: str


def mail_parse(raw: bytes) -> Mail:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    display_name, address = _sender(msg)
    return Mail(
        msg=msg,
        display_name=display_name,
        address=address,
        message_id=_message_id(msg),
        subject=clean_line(msg.get("Subject", "")),
        thread_ids=_referenced_ids(msg),
        automatic=_automatic(msg, address) if address else "",
        language=_language_guess(msg),
        header_recipients=_header_recipients(msg),
        dmarc=dmarc_verdict(msg, address) if address else "",
    )


def _sender(msg: EmailMessage) -> tuple[str, str]:
    header = msg.get("From")
    for mailbox in getattr(header, "addresses", ()):
        address = mailbox.addr_spec
        try:
            validate_email(address)
        except ValidationError:
            continue
        return clean_line(mailbox.display_name), address
    return "", ""


def _message_id(msg: EmailMessage) -> str:
    match = MESSAGE_ID_RE.search(str(msg.get("Message-ID", "")))
    if match is None or len(match.group()) > MESSAGE_ID_MAX:
        return ""
    return match.group()


def _address_of(value: str) -> str:
    return email.utils.parseaddr(value)[1].lower()


def _automatic(msg: EmailMessage, address: str) -> str:
    """Why this is mail no person wrote to us (RFC 3834 and common practice), or "". A list
    alias (Precedence: list or bulk) carries mail people wrote: it is filed."""
    auto_submitted = str(msg.get("Auto-Submitted", "")).split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return "auto_reply"
    if str(msg.get("Precedence", "")).strip().lower() in ("junk", "auto_reply"):
        return "auto_reply"
    if any(name in msg for name in ("X-Autoreply", "X-Autorespond")):
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


def text_safe(text: str) -> str:
    """Text a database accepts and a page shows safely: 8-bit bytes of a header the parser kept
    as surrogates become U+FFFD, NUL (which PostgreSQL refuses) and bidi controls go."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "")
    return bidi_controls_removed(text)


def clean_line(text: str) -> str:
    return " ".join(text_safe(str(text or "")).split())


def _referenced_ids(msg: EmailMessage) -> list[str]:
    """In-Reply-To first, then References from the newest: the likeliest thread first."""
    ids = MESSAGE_ID_RE.findall(str(msg.get("In-Reply-To", "")))
    ids += reversed(MESSAGE_ID_RE.findall(str(msg.get("References", ""))))
    return list(dict.fromkeys(ids))[:REFERENCES_CONSIDERED]


def _header_recipients(msg: EmailMessage) -> list[str]:
    values = [str(value) for name in RECIPIENT_HEADERS for value in msg.get_all(name, [])]
    addresses = [address for _name, address in email.utils.getaddresses(values) if address]
    return list(dict.fromkeys(addresses))[:RECIPIENTS_CONSIDERED]


def _without_comments(text: str) -> str:
    """RFC 5322 comments (nested parentheses) removed; quoted strings kept as they are."""
    kept, depth, quoted, escaped = [], 0, False, False
    for char in text:
        if escaped:
            escaped = False
            if not depth:
                kept.append(char)
            continue
        if char == "\\":
            escaped = True
        elif char == '"' and not depth:
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
            continue
        elif not quoted and char == ")" and depth:
            depth -= 1
            continue
        if not depth:
            kept.append(char)
    return "".join(kept)


def dmarc_verdict(msg: EmailMessage, address: str) -> str:
    """DMARC for the domain of `address` in the Authentication-Results headers of the MTA
    whose authserv-id is EMAIL_AUTHSERV_ID: "fail" if any says so, else "pass" if one does,
    else "". Headers of any other authserv-id are somebody's claim, never a verdict."""
    trusted = settings.EMAIL_AUTHSERV_ID.strip().lower()
    if not trusted:
        return ""
    domain = address.rpartition("@")[2].lower()
    results = set()
    for header in msg.get_all("Authentication-Results", []):
        text = re.sub(r"\s*=\s*", "=", " ".join(_without_comments(str(header)).split()))
        authserv, *resinfos = text.split(";")
        if not authserv.split() or authserv.split()[0].lower() != trusted:
            continue
        for resinfo in resinfos:
            words = resinfo.lower().split()
            name, _eq, result = words[0].partition("=") if words else ("", "", "")
            if name != "dmarc":
                continue
            found = dict(word.partition("=")[::2] for word in words[1:])
            if found.get("header.from", domain).strip('"') == domain:
                results.add(result)
    if DMARC_FAILED in results:
        return DMARC_FAILED
    return DMARC_PASSED if DMARC_PASSED in results else ""
