"""`manage.py mail_receiver`: real SMTP sessions (smtplib) with the receiver in its own process,
as the Procfile runs it, on the test's database."""

import contextlib
import re
import selectors
import signal
import smtplib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from sla.services.acknowledgement import acknowledgement_send
from tests.mailin.mails import AUTHSERV_ID, PNG, dmarc, mail
from tests.processes import child_env
from tickets.models import OutboundEmail, Ticket

MAX_BYTES = 200_000
READY_SECONDS = 60

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("structure")]


@contextlib.contextmanager
def running_receiver(workdir: Path, **env: str):
    """The receiver on a free port (`--port 0`: it prints the one it got); SIGTERM stops it."""
    log_path = workdir / "receiver.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "mail_receiver", "--host", "127.0.0.1", "--port", "0"],
            cwd=settings.BASE_DIR,
            # A cache prefix of its own: the mail_in door counts this receiver's mail alone.
            env=child_env(
                ATTACHMENTS_DIR=str(workdir / "files"),
                CACHE_KEY_PREFIX=f"helpdesk-test-{uuid.uuid4().hex}",
                **env,
            ),
            stdout=subprocess.PIPE,
            stderr=log,
        )
        try:
            with selectors.DefaultSelector() as ready:
                ready.register(proc.stdout, selectors.EVENT_READ)
                line = proc.stdout.readline().decode() if ready.select(READY_SECONDS) else ""
            match = re.search(r"listening on ([\d.]+):(\d+)", line)
            if match is None:
                pytest.fail(f"mail_receiver did not start: {line!r}\n{log_path.read_text()}")
            yield match.group(1), int(match.group(2))
        finally:
            proc.send_signal(signal.SIGTERM)
            returncode = proc.wait(timeout=30)
    assert returncode == 0, log_path.read_text()


@pytest.fixture(scope="module")
def receiver(django_db_setup, tmp_path_factory):
    with running_receiver(
        tmp_path_factory.mktemp("mail-receiver"),
        EMAIL_MAX_BYTES=str(MAX_BYTES),
        EMAIL_AUTHSERV_ID=AUTHSERV_ID,
    ) as address:
        yield address


def send(
    receiver, raw: bytes, *, mail_from: str = "mario@example.com", rcpt: str | None = None
) -> tuple[int, str]:
    """One SMTP transaction to the support address (or `rcpt`): the server's answer to the
    end of DATA."""
    with smtplib.SMTP(*receiver, timeout=60) as smtp:
        smtp.ehlo("mx.example.com")
        smtp.mail(mail_from)
        code, reply = smtp.rcpt(rcpt or settings.SUPPORT_EMAIL)
        assert code == 250, reply
        try:
            code, reply = smtp.data(raw)
        except smtplib.SMTPResponseException as exc:
            code, reply = exc.smtp_code, exc.smtp_error
    return code, reply.decode()


def test_a_new_message_opens_a_ticket_and_the_answer_names_it_to_no_one(receiver):
    code, reply = send(receiver, mail(attachments=(("screen.png", PNG, "image/png"),)))

    ticket = Ticket.objects.get()
    assert (code, reply) == (250, "2.0.0 Accepted")
    assert ticket.channel == "email" and ticket.customer.email == "mario@example.com"
    assert ticket.messages.get().attachments.get().filename == "screen.png"


def test_an_authenticated_reply_with_the_reference_in_the_subject_joins_the_thread(receiver):
    send(receiver, mail())
    ticket = Ticket.objects.get()

    code, reply = send(
        receiver,
        mail(
            subject=f"Re: [{ticket.reference}] My server",
            body="Any news?",
            headers=(dmarc("pass"),),
        ),
    )

    assert (code, reply) == (250, f"2.0.0 Filed as {ticket.reference}")
    assert list(ticket.messages.filter(kind="customer").values_list("body", flat=True)) == [
        "It stopped answering after a reboot.",
        "Any news?",
    ]


def test_a_reply_to_our_email_joins_by_in_reply_to(receiver):
    send(receiver, mail())
    ticket = Ticket.objects.get()
    acknowledgement_send(ticket_id=ticket.pk, now=ticket.created_at)
    ours = OutboundEmail.objects.get(ticket=ticket)

    code, reply = send(
        receiver,
        mail(
            subject="Re: thanks",
            body="Still down.",
            headers=(("In-Reply-To", ours.rfc_message_id),),
        ),
    )

    assert (code, reply) == (250, f"2.0.0 Filed as {ticket.reference}")
    assert Ticket.objects.count() == 1


@pytest.mark.parametrize(
    "address",
    [
        "someone.else@introserv.com",
        "supportx@introserv.com",
        "sales+support@introserv.com",
        "support@elsewhere.example",
        "support+abc@introserv.com.elsewhere.example",
    ],
)
def test_mail_for_another_address_is_refused_at_rcpt(receiver, address):
    with smtplib.SMTP(*receiver, timeout=60) as smtp:
        smtp.ehlo("mx.example.com")
        smtp.mail("mario@example.com")
        code, reply = smtp.rcpt(address)

    assert code == 550 and b"No such mailbox" in reply


def test_an_oversized_message_is_refused_with_552(receiver):
    raw = mail(body=("x" * 70 + "\n") * (MAX_BYTES // 70))

    code, _reply = send(receiver, raw)
    with (
        smtplib.SMTP(*receiver, timeout=60) as smtp,
        pytest.raises(smtplib.SMTPSenderRefused) as declared,
    ):
        # sendmail declares SIZE= in MAIL FROM: refused before the data is sent.
        smtp.sendmail("mario@example.com", [settings.SUPPORT_EMAIL], raw)

    assert code == 552 and declared.value.smtp_code == 552
    assert not Ticket.objects.exists()


def test_an_auto_reply_is_accepted_and_not_filed(receiver):
    code, reply = send(
        receiver, mail(subject="Out of office", headers=(("Auto-Submitted", "auto-replied"),))
    )

    assert (code, reply) == (250, "2.0.0 Accepted, not filed: auto_reply")
    assert not Ticket.objects.exists()


def test_a_bounce_with_the_null_sender_is_accepted_and_not_filed(receiver):
    code, reply = send(receiver, mail(subject="Undelivered Mail"), mail_from="")

    assert (code, reply) == (250, "2.0.0 Accepted, not filed: bounce")
    assert not Ticket.objects.exists()


def test_a_message_without_sender_is_refused_with_554(receiver):
    code, reply = send(receiver, b"Subject: who am I\r\n\r\nno From header\r\n")

    assert code == 554 and "no valid sender address" in reply
    assert not Ticket.objects.exists()


def test_unknown_senders_are_refused_with_550_when_so_configured(tmp_path):
    with running_receiver(tmp_path, EMAIL_UNKNOWN_SENDERS="reject") as address:
        code, reply = send(address, mail(sender="stranger@example.net"))

    assert code == 550 and "stranger@example.net is not a known customer" in reply
    assert not Ticket.objects.exists()


def test_a_database_outage_answers_451_so_that_the_sender_retries(tmp_path):
    with running_receiver(
        tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:1/helpdesk"
    ) as address:
        code, reply = send(address, mail())

    assert code == 451 and "try again later" in reply
    assert "not filed; asked the sender to retry" in (tmp_path / "receiver.log").read_text()
