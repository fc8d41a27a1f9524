"""`manage.py receive_email`: what an MTA's pipe runs, with the exit codes it understands."""

import io
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from tests.factories import make_customer, make_ticket
from tests.mailin.mails import PDF, mail
from tests.processes import child_env
from tickets.models import Attachment, Channel, OutboundEmail, Ticket
from tickets.reply_address import reply_address_for

pytestmark = pytest.mark.usefixtures("structure")


def pipe(raw: bytes, **env: str) -> subprocess.CompletedProcess:
    """The command as Postfix's pipe(8) runs it: the message on stdin, a fresh process."""
    return subprocess.run(
        [sys.executable, "manage.py", "receive_email"],
        input=raw,
        capture_output=True,
        cwd=settings.BASE_DIR,
        # A cache prefix of its own: the mail_in door counts this process's mail alone.
        env=child_env(CACHE_KEY_PREFIX=f"helpdesk-test-{uuid.uuid4().hex}", **env),
        timeout=120,
    )


# --- In process: call_command with a binary stdin --------------------------------------------


@pytest.mark.django_db
def test_the_command_files_the_message_read_on_stdin():
    out = io.StringIO()

    call_command("receive_email", stdin=io.BytesIO(mail()), stdout=out)

    ticket = Ticket.objects.get()
    assert out.getvalue().strip() == f"opened {ticket.reference}"
    assert ticket.channel == "email" and ticket.customer.email == "mario@example.com"


@pytest.mark.django_db
def test_the_command_refuses_with_exit_code_65(settings):
    settings.EMAIL_UNKNOWN_SENDERS = "reject"

    with pytest.raises(CommandError) as refused:
        call_command("receive_email", stdin=io.BytesIO(mail(sender="who@example.net")))

    assert refused.value.returncode == 65
    assert "who@example.net is not a known customer" in str(refused.value)


@pytest.mark.django_db
def test_over_the_mail_in_limit_the_command_exits_75_and_files_nothing(settings):
    settings.DOOR_LIMITS = {**settings.DOOR_LIMITS, "mail_in": {"account": "1/h"}}
    call_command("receive_email", stdin=io.BytesIO(mail()), stdout=io.StringIO())

    with pytest.raises(CommandError) as deferred:
        call_command("receive_email", stdin=io.BytesIO(mail(body="And again.")))

    assert deferred.value.returncode == 75
    assert "try again" in str(deferred.value)
    assert Ticket.objects.count() == 1


@pytest.fixture
def mario_ticket():
    mario = make_customer(username="mario")
    return make_ticket(customer=mario, channel=Channel.EMAIL)


@pytest.mark.django_db
def test_the_recipient_argument_carries_the_signed_reply_address(mario_ticket):
    address = reply_address_for(ticket_id=mario_ticket.pk, user_id=mario_ticket.customer_id)
    out = io.StringIO()

    call_command(
        "receive_email",
        "--recipient",
        address,
        stdin=io.BytesIO(mail(subject="Re: thanks", body="Still down.")),
        stdout=out,
    )

    assert out.getvalue().strip() == f"replied {mario_ticket.reference}"
    assert mario_ticket.messages.order_by("id").last().body == "Still down."


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Delivered-To", "X-Original-To", "Cc"])
def test_without_the_argument_the_reply_address_is_read_from_the_headers(mario_ticket, header):
    address = reply_address_for(ticket_id=mario_ticket.pk, user_id=mario_ticket.customer_id)
    out = io.StringIO()

    call_command(
        "receive_email",
        stdin=io.BytesIO(mail(subject="Re: thanks", headers=((header, address),))),
        stdout=out,
    )

    assert out.getvalue().strip() == f"replied {mario_ticket.reference}"


# --- A real pipe into a new process ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_piped_message_is_filed_with_its_attachment_and_exits_0(tmp_path):
    stored = tmp_path / "child-attachments"

    run = pipe(
        mail(attachments=(("invoice.pdf", PDF, "application/pdf"),)),
        ATTACHMENTS_DIR=str(stored),
    )

    assert run.returncode == 0, run.stderr.decode()
    ticket = Ticket.objects.get()
    assert run.stdout.decode().strip() == f"opened {ticket.reference}"
    attachment = Attachment.objects.get(message__ticket=ticket)
    assert (stored / attachment.file.name).read_bytes() == PDF


@pytest.mark.django_db(transaction=True)
def test_an_ignored_message_exits_0_and_files_nothing():
    run = pipe(mail(headers=(("Auto-Submitted", "auto-replied"),)))

    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout.decode().startswith("ignored")
    assert not Ticket.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("env", "raw", "reason"),
    [
        ({"EMAIL_MAX_BYTES": "1000"}, mail(body="x" * 2000), "exceeds the limit of 1000"),
        ({}, b"Subject: no sender\r\n\r\nbody\r\n", "no valid sender address"),
        ({"EMAIL_UNKNOWN_SENDERS": "reject"}, mail(), "mario@example.com is not a known customer"),
    ],
)
def test_a_refused_message_exits_65_with_the_reason_on_stderr(env, raw, reason):
    run = pipe(raw, **env)

    assert run.returncode == 65
    assert reason in run.stderr.decode()
    assert not Ticket.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_exits_75_so_that_the_mta_retries():
    run = pipe(mail(), DATABASE_URL="postgres://postgres@127.0.0.1:1/helpdesk")

    assert run.returncode == 75, run.stderr.decode()
    assert "temporary failure" in run.stderr.decode()


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_is_logged_and_the_message_still_filed():
    run = pipe(mail(), REDIS_URL="redis://127.0.0.1:1/0")

    assert run.returncode == 0, run.stderr.decode()
    assert "could not enqueue sla.acknowledgement_send" in run.stderr.decode()
    ticket = Ticket.objects.get()
    # The acknowledgement task was lost with the broker: the sweep sends it (no email yet).
    assert ticket.clocks.get(metric="acknowledgement").met_at is None
    assert not OutboundEmail.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_bad_setting_exits_75_so_that_the_mail_waits_for_the_fix():
    run = pipe(mail(sender="new@example.net"), EMAIL_UNKNOWN_SENDERS="sometimes")

    assert run.returncode == 75
    assert "EMAIL_UNKNOWN_SENDERS must be 'create' or 'reject'" in run.stderr.decode()
