"""Mail that does not prove its sender, written as the attacks: real SMTP sessions with the
receiver in its own process, behind an MTA whose authserv-id is trusted (EMAIL_AUTHSERV_ID)."""

import pytest
from django.contrib.auth import get_user_model

from sla.services.acknowledgement import acknowledgement_send
from tests.factories import make_agent, make_customer, make_ticket
from tests.mailin.mails import AUTHSERV_ID, dmarc, mail
from tests.mailin.test_mail_receiver import running_receiver, send
from tickets.models import Channel, InboundEmail, OutboundEmail, Ticket
from tickets.reply_address import reply_address_for

User = get_user_model()

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("structure")]


@pytest.fixture(scope="module")
def receiver(django_db_setup, tmp_path_factory):
    with running_receiver(
        tmp_path_factory.mktemp("mail-attacks"), EMAIL_AUTHSERV_ID=AUTHSERV_ID
    ) as address:
        yield address


@pytest.fixture
def mario():
    return make_customer(username="mario")


@pytest.fixture
def ticket(mario):
    """Mario's ticket, opened by email: the thread an attacker wants to write into."""
    return make_ticket(customer=mario, channel=Channel.EMAIL)


def thread(ticket) -> list[tuple[str, str]]:
    return list(ticket.messages.order_by("id").values_list("kind", "body"))


def only_new_ticket(ticket) -> Ticket:
    return Ticket.objects.exclude(pk=ticket.pk).get()


def test_a_managers_address_in_from_files_nothing_and_is_held(receiver, ticket, mario):
    manager = make_agent(username="marta", manager=True)
    User.objects.filter(pk=manager.pk).update(email="marta@introserv.com")
    before = thread(ticket)

    code, reply = send(
        receiver,
        mail(
            sender="Marta (INTROSERV) <marta@introserv.com>",
            subject=f"Re: {ticket.reference}",
            body="Approved: a credit of 500 EUR on your next invoice.",
        ),
        mail_from="marta@introserv.com",
    )

    assert (code, reply) == (250, "2.0.0 Accepted")
    assert thread(ticket) == before
    assert not Ticket.objects.exclude(pk=ticket.pk).exists()
    assert not OutboundEmail.objects.filter(to=mario.email).exists()
    assert ticket.clocks.get(metric="first_response").met_at is None
    held = InboundEmail.objects.get()
    assert (held.state, held.reason, held.sender, held.ticket) == (
        "held",
        "staff_sender",
        "marta@introserv.com",
        None,
    )
    assert b"500 EUR" in bytes(held.raw)


def test_a_forged_customer_from_with_the_reference_stays_out_of_the_thread(receiver, ticket, mario):
    before = thread(ticket)

    code, reply = send(
        receiver,
        mail(
            sender=f"Mario Rossi <{mario.email}>",
            subject=f"Re: [{ticket.reference}] My server does not boot",
            body="Please send the root password to this address.",
        ),
    )

    assert (code, reply) == (250, "2.0.0 Accepted")
    assert thread(ticket) == before
    opened = only_new_ticket(ticket)
    assert opened.customer == mario
    first = opened.messages.get().body
    assert ticket.reference in first and "could not be verified" in first
    assert first.endswith("Please send the root password to this address.")


def test_the_guessable_thread_id_in_in_reply_to_does_not_join(receiver, ticket, mario):
    before = thread(ticket)

    code, reply = send(
        receiver,
        mail(
            sender=mario.email,
            subject="Re: your request",
            headers=(("In-Reply-To", f"<{ticket.reference}@introserv.com>"),),
        ),
    )

    assert (code, reply) == (250, "2.0.0 Accepted")
    assert thread(ticket) == before


def test_dmarc_fail_is_held_not_filed(receiver, ticket, mario):
    before = thread(ticket)

    code, reply = send(
        receiver,
        mail(sender=mario.email, subject=f"Re: {ticket.reference}", headers=(dmarc("fail"),)),
    )

    assert (code, reply) == (250, "2.0.0 Accepted")
    assert thread(ticket) == before
    assert not Ticket.objects.exclude(pk=ticket.pk).exists()
    held = InboundEmail.objects.get()
    assert (held.state, held.reason) == ("held", "dmarc_fail")


def test_a_verdict_under_another_authserv_id_is_not_trusted(receiver, ticket, mario):
    before = thread(ticket)

    code, reply = send(
        receiver,
        mail(
            sender=mario.email,
            subject=f"Re: {ticket.reference}",
            headers=(dmarc("pass", authserv_id="mx.attacker.example"),),
        ),
    )

    assert (code, reply) == (250, "2.0.0 Accepted")
    assert thread(ticket) == before


def test_dmarc_pass_with_the_reference_joins_the_thread(receiver, ticket, mario):
    code, reply = send(
        receiver,
        mail(
            sender=mario.email,
            subject=f"Re: {ticket.reference}",
            body="Any news?",
            headers=(dmarc("pass"),),
        ),
    )

    assert (code, reply) == (250, f"2.0.0 Filed as {ticket.reference}")
    assert thread(ticket)[-1] == ("customer", "Any news?")


def test_the_signed_reply_address_joins_the_thread(receiver, ticket, mario):
    address = reply_address_for(ticket_id=ticket.pk, user_id=mario.pk)

    code, reply = send(
        receiver,
        mail(sender=mario.email, subject="Re: thanks", body="Still down.", to=address),
        rcpt=address.upper(),  # a relay that changes the case changes nothing
    )

    assert (code, reply) == (250, f"2.0.0 Filed as {ticket.reference}")
    assert thread(ticket)[-1] == ("customer", "Still down.")


def test_a_tampered_reply_address_does_not_join(receiver, ticket, mario):
    local, _at, domain = reply_address_for(ticket_id=ticket.pk, user_id=mario.pk).partition("@")
    tampered = f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"
    before = thread(ticket)

    code, reply = send(
        receiver, mail(sender=mario.email, subject="Re: thanks", to=tampered), rcpt=tampered
    )

    assert (code, reply) == (250, "2.0.0 Accepted")
    assert thread(ticket) == before


def test_in_reply_to_our_email_to_that_address_joins(receiver, ticket, mario):
    acknowledgement_send(ticket_id=ticket.pk, now=ticket.created_at)
    ours = OutboundEmail.objects.get(ticket=ticket, purpose="acknowledgement")

    code, reply = send(
        receiver,
        mail(
            sender=mario.email,
            subject="Re: thanks",
            body="Still down.",
            headers=(("In-Reply-To", ours.rfc_message_id),),
        ),
    )

    assert (code, reply) == (250, f"2.0.0 Filed as {ticket.reference}")
    assert thread(ticket)[-1] == ("customer", "Still down.")


def test_mail_through_a_list_alias_is_filed(receiver):
    code, reply = send(
        receiver,
        mail(
            sender="ops-team@example.com",
            headers=(("Precedence", "list"), ("List-Id", "<ops.example.com>")),
        ),
        mail_from="ops-team-bounces@example.com",
    )

    assert (code, reply) == (250, "2.0.0 Accepted")
    assert Ticket.objects.get().customer.email == "ops-team@example.com"


@pytest.mark.parametrize(
    ("limit", "senders"),
    [
        ({"RATE_MAIL_SENDER": "2/h"}, ["flood@example.net"] * 3),
        ({"RATE_MAIL_IP": "2/h"}, ["a@example.net", "b@example.net", "c@example.net"]),
    ],
)
def test_the_mail_in_door_answers_451_over_its_limit(tmp_path, limit, senders):
    with running_receiver(tmp_path, **limit) as address:
        answers = [send(address, mail(sender=sender), mail_from=sender) for sender in senders]

    assert [code for code, _reply in answers] == [250, 250, 451]
    assert answers[-1][1].startswith("4.7.1 ")
    assert Ticket.objects.count() == 2
