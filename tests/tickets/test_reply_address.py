"""The signed reply address: support+<token>@domain, the token binding a ticket and the user it
was sent to, verified with SECRET_KEY and its fallbacks; anything else is nobody's address."""

import base64
import datetime

import pytest

from sla.services.acknowledgement import acknowledgement_send
from teams.models import Team
from tests.factories import make_agent, make_customer, make_ticket
from tests.tickets.test_outbound_email import deliver, relay  # noqa: F401 (fixture)
from tickets.models import OutboundEmail
from tickets.notifications import staff_email_queue
from tickets.reply_address import reply_address_for, reply_address_parse

T0 = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)
BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def token_of(address: str) -> str:
    return address.partition("@")[0].partition("+")[2]


@pytest.mark.parametrize(("ticket_id", "user_id"), [(1, 1), (123, 45678), (2**62, 2**40 + 7)])
def test_the_address_names_its_ticket_and_user_back(ticket_id, user_id):
    address = reply_address_for(ticket_id=ticket_id, user_id=user_id)

    local, _at, domain = address.partition("@")
    assert domain == "introserv.com" and local.startswith("support+")
    assert local == local.lower() and len(local) <= 64
    assert set(token_of(address)) <= set(BASE32)
    assert reply_address_parse(address) == (ticket_id, user_id)


def test_a_relay_that_changes_the_case_changes_nothing():
    address = reply_address_for(ticket_id=42, user_id=7)

    assert reply_address_parse(address.upper()) == (42, 7)
    assert reply_address_parse(f"<{address.title()}>") == (42, 7)


def test_every_changed_character_makes_it_nobodys_address():
    address = reply_address_for(ticket_id=42, user_id=7)
    token = token_of(address)

    for position, char in enumerate(token):
        for other in BASE32.replace(char, "")[:4]:
            forged = token[:position] + other + token[position + 1 :]
            assert reply_address_parse(f"support+{forged}@introserv.com") is None


def test_ids_cannot_be_swapped_under_the_same_signature():
    token = token_of(reply_address_for(ticket_id=42, user_id=7))
    raw = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
    # Ticket 42 of user 7 becomes ticket 43 of user 7, the signature kept.
    forged = bytes([raw[0], raw[1] + 1]) + raw[2:]
    forged_token = base64.b32encode(forged).decode().rstrip("=").lower()

    assert reply_address_parse(f"support+{forged_token}@introserv.com") is None


@pytest.mark.parametrize(
    "address",
    [
        "",
        "support@introserv.com",
        "support+@introserv.com",
        "support+!!!@introserv.com",
        "support+" + "a" * 200 + "@introserv.com",
        "not an address",
    ],
)
def test_anything_else_is_nobodys_address(address):
    assert reply_address_parse(address) is None


def test_only_our_mailbox_and_domain_carry_a_token():
    token = token_of(reply_address_for(ticket_id=42, user_id=7))

    assert reply_address_parse(f"sales+{token}@introserv.com") is None
    assert reply_address_parse(f"support+{token}@introserv.com.attacker.example") is None


def test_rotating_the_key_keeps_addresses_made_under_the_old_one(settings):
    address = reply_address_for(ticket_id=42, user_id=7)
    old_key = settings.SECRET_KEY

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key-" + "x" * 50, [old_key]
    assert reply_address_parse(address) == (42, 7)
    assert token_of(reply_address_for(ticket_id=42, user_id=7)) != token_of(address)

    settings.SECRET_KEY_FALLBACKS = []
    assert reply_address_parse(address) is None


def test_a_support_address_too_long_for_a_token_is_used_bare(settings):
    settings.SUPPORT_EMAIL = "a-very-long-mailbox-name-for-customer-support-requests@introserv.com"

    assert reply_address_for(ticket_id=42, user_id=7) == settings.SUPPORT_EMAIL


# --- Every email to a customer about a ticket carries it --------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("structure")
def test_customer_mail_carries_the_signed_reply_address_and_staff_mail_does_not(relay):  # noqa: F811
    customer = make_customer(username="mario")
    ticket = make_ticket(customer=customer, now=T0)
    acknowledgement_send(ticket_id=ticket.pk, now=T0)
    acknowledgement = OutboundEmail.objects.get(ticket=ticket)
    agent = make_agent(teams=(Team.objects.get(slug="support"),))
    warning = staff_email_queue(
        to=agent.email,
        template="sla/email/at_risk",
        context={"clock": ticket.clocks.get(metric="first_response"), "ticket": ticket},
        language="en",
        purpose="at_risk",
        now=T0,
        ticket=ticket,
    )

    deliver(acknowledgement)
    deliver(warning)

    to_customer, to_agent = relay.received
    assert to_customer["Reply-To"] == reply_address_for(ticket_id=ticket.pk, user_id=customer.pk)
    assert reply_address_parse(to_customer["Reply-To"]) == (ticket.pk, customer.pk)
    assert to_agent["Reply-To"] == "support@introserv.com"
