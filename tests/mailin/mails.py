"""Emails as customers' mail programs write them."""

import datetime
import email.policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings

PDF = b"%PDF-1.4\n% a tiny document\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n-a-tiny-image-"
WHEN = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)
# The authserv-id of the MTA in front, as the tests configure EMAIL_AUTHSERV_ID.
AUTHSERV_ID = "mx.introserv.com"


def message_id() -> str:
    return make_msgid(domain="mail.example.com")


def mail(
    *,
    sender: str = "Mario Rossi <mario@example.com>",
    subject: str | None = "My server does not boot",
    body: str | None = "It stopped answering after a reboot.",
    html: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    attachments: tuple[tuple[str, bytes, str], ...] = (),
    msgid: str | None = None,
    to: str | None = None,
) -> bytes:
    """One RFC 5322 message to the support address, as bytes on the wire."""
    msg = EmailMessage()
    if sender is not None:
        msg["From"] = sender
    msg["To"] = to or settings.SUPPORT_EMAIL
    if subject is not None:
        msg["Subject"] = subject
    msg["Date"] = format_datetime(WHEN)
    msg["Message-ID"] = msgid or message_id()
    if body is not None:
        msg.set_content(body)
    if html is not None:
        if body is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for filename, data, content_type in attachments:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    # Last: set_content() drops Content-* headers (Content-Language) set before it.
    for name, value in headers:
        msg[name] = value
    return msg.as_bytes(policy=email.policy.SMTP)


def dmarc(result: str, domain: str = "example.com", *, authserv_id: str = AUTHSERV_ID):
    """The header the MTA in front adds once it checked SPF, DKIM and DMARC (RFC 8601)."""
    return (
        "Authentication-Results",
        f"{authserv_id}; spf={result} smtp.mailfrom={domain}; dkim={result} header.d={domain};"
        f" dmarc={result} (p=reject dis=none) header.from={domain}",
    )
