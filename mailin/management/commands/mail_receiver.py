"""The inbound SMTP server for support@: the MTA in front (or a relay) delivers to it.

    python manage.py mail_receiver --host 127.0.0.1 --port 2525

It accepts mail for SUPPORT_EMAIL and its signed reply addresses (support+<token>@, see
tickets.reply_address) only, and files each message with `mailin.filing.email_receive` in a
worker thread, with Django's connection handling (old connections closed before and after each
message). Replies: 250 with the ticket reference to a sender who proved itself, a bare 250
Accepted otherwise (held mail included: the answer confirms no reference), 552 too large,
550 sender refused, 554 malformed, 451 over the mail_in door's limits or on a transient
failure, so that the sending server tries again later. SIGTERM or SIGINT stops it.

It binds to loopback by default: the MTA in front, which checks SPF, DKIM and DMARC and adds
Authentication-Results (EMAIL_AUTHSERV_ID), hands mail over to it (README, "Mail in").
"""

import asyncio
import logging
import signal

from aiosmtpd.smtp import SMTP
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from core.throttle import Refused
from mailin import filing as email_in
from tickets.notifications import mail_domain

log = logging.getLogger(__name__)

REFUSAL_REPLIES = {
    email_in.TOO_LARGE: "552 5.3.4",
    email_in.MALFORMED: "554 5.6.0",
    email_in.UNKNOWN_SENDER: "550 5.7.1",
    email_in.DISABLED_SENDER: "550 5.7.1",
}
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"
ACCEPTED = "250 2.0.0 Accepted"


def smtp_reply(outcome: email_in.Outcome) -> str:
    """The SMTP answer to the end of DATA for what became of the message. A reference is
    named only to a sender who proved itself: to anyone else it would confirm that a ticket
    exists, and held mail looks like any other accepted mail."""
    if outcome.filed:
        return f"250 2.0.0 Filed as {outcome.reference}" if outcome.proven else ACCEPTED
    if outcome.result == email_in.HELD:
        return ACCEPTED
    if outcome.result == email_in.IGNORED:
        return f"{ACCEPTED}, not filed: {outcome.code}"
    # One ASCII line: the reason travels back to the sender inside a bounce.
    reason = " ".join(outcome.reason.split()).encode("ascii", "replace").decode()
    return f"{REFUSAL_REPLIES.get(outcome.code, '554 5.7.0')} {reason}"


def _receive_sync(raw: bytes, recipients: list[str], peer: str) -> email_in.Outcome:
    return email_in.email_receive(raw=raw, now=timezone.now(), recipients=recipients, peer=peer)


# A worker thread per message (not one shared thread): messages are filed in parallel, each
# thread's connection closed when stale or broken (channels' close_old_connections wrapper).
_receive = database_sync_to_async(_receive_sync, thread_sensitive=False)


class SupportMailHandler:
    """aiosmtpd handler: one mailbox, every message filed, held or refused with a reason."""

    def __init__(self, *, recipient: str):
        self.local, _at, self.domain = recipient.lower().rpartition("@")

    def is_ours(self, address: str) -> bool:
        """The support mailbox, or one of its +addresses (whose token filing verifies)."""
        local, _at, domain = address.lower().rpartition("@")
        return domain == self.domain and (local == self.local or local.startswith(f"{self.local}+"))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.is_ours(address):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        # The delivering server records the envelope sender (RFC 5321, 4.4): the null sender
        # `<>` of a bounce then reaches email_receive, which ignores it.
        # (aiosmtpd gives the null sender as "<>" or "".)
        sender = (envelope.mail_from or "").strip("<>")
        return_path = b"Return-Path: <" + sender.encode() + b">\r\n"
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        try:
            outcome = await _receive(
                return_path + envelope.original_content, list(envelope.rcpt_tos), peer
            )
        except Refused as refused:
            log.warning("mail from %s (%s) deferred: %s", envelope.mail_from, peer, refused)
            return f"451 4.7.1 Too many messages, please try again in {refused.retry_after} seconds"
        except Exception:  # database down, disk full, a bug: the sender keeps the message
            log.exception("mail from %s not filed; asked the sender to retry", envelope.mail_from)
            return TEMPORARY_FAILURE
        return smtp_reply(outcome)


class Command(BaseCommand):
    help = "Receive support email over SMTP and file it as tickets and replies."

    def add_arguments(self, parser):
        parser.add_argument(
            "--host", default="127.0.0.1", help="Loopback by default: the MTA in front is local."
        )
        parser.add_argument(
            "--port", type=int, default=2525, help="0 picks a free port (it is printed)."
        )

    def handle(self, *args, **options):
        asyncio.run(self.serve(host=options["host"], port=options["port"]))

    async def serve(self, *, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        handler = SupportMailHandler(recipient=settings.SUPPORT_EMAIL)
        server = await loop.create_server(
            lambda: SMTP(
                handler,
                hostname=mail_domain(),
                data_size_limit=settings.EMAIL_MAX_BYTES,
                enable_SMTPUTF8=True,
            ),
            host=host,
            port=port,
        )
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        bound_host, bound_port = server.sockets[0].getsockname()[:2]
        # Printed (and flushed) once listening: supervisors and tests wait for this line.
        self.stdout.write(
            f"mail_receiver listening on {bound_host}:{bound_port} for {settings.SUPPORT_EMAIL}"
        )
        self.stdout.flush()
        async with server:
            await stop.wait()
        self.stdout.write("mail_receiver stopped")
