"""Emails as customers' mail programs write them, and the environment of a child process
(an MTA's pipe, the SMTP receiver) that must see the test's database."""

import datetime
import email.policy
import os
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.db import connection

PDF = b"%PDF-1.4\n% a tiny document\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n-a-tiny-image-"
WHEN = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)


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
) -> bytes:
    """One RFC 5322 message to the support address, as bytes on the wire."""
    msg = EmailMessage()
    if sender is not None:
        msg["From"] = sender
    msg["To"] = settings.SUPPORT_EMAIL
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


def database_url() -> str:
    """The test database (created by pytest-django) as a DATABASE_URL for a child process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a helpdesk process started by a test: same settings, same Redis,
    the test's database (data committed by a transactional test is visible there)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings_test",
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
