"""The password reset is a proof of the address too: a customer made from their first email
sets a password with it (issue 17, item 5), and a password set through its link proves the
address the link went to."""

import datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client

from accounts import selectors
from accounts.models import CustomerProfile
from accounts.services import customer_upsert
from mailin import filing
from tests.accounts.conftest import link_path, signup_data
from tests.factories import PASSWORD
from tests.mailin.mails import mail

User = get_user_model()
T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)

pytestmark = pytest.mark.django_db


def reset(client, address):
    return client.post("/accounts/password_reset/", {"email": address})


def password_set(client, email, password=PASSWORD):
    form_url = client.get(link_path(email))["Location"]
    return client.post(form_url, {"new_password1": password, "new_password2": password})


def test_a_customer_made_by_their_first_email_sets_a_password_and_logs_in(
    client, mailoutbox, structure
):
    with time_machine.travel(T0, tick=False):
        ticket = filing.email_receive(
            raw=mail(sender="Anna Bianchi <anna@example.it>"), now=T0
        ).ticket
        anna = ticket.customer
        assert not anna.has_usable_password()

        response = reset(client, "Anna@Example.it")
        [email] = mailoutbox
        assert response["Location"] == "/accounts/password_reset/done/"
        assert email.to == ["anna@example.it"]
        response = password_set(client, email)

    assert response["Location"] == "/accounts/reset/done/"
    assert client.login(username=anna.username, password=PASSWORD)
    assert ticket.reference in client.get("/tickets/").content.decode()
    profile = CustomerProfile.objects.get(user=anna)
    assert (profile.owned_address, profile.address_proven_at) == ("anna@example.it", T0)


def test_a_reset_proves_an_address_the_account_did_not_own(client, mailoutbox, structure):
    mario = customer_upsert(username="mario", email="mario@example.com", password=PASSWORD)
    # An admin gave the account a new address: nobody has proven it is the customer's.
    mario.email = "mario@new.example"
    mario.save()
    assert selectors.customer_owning_address("mario@new.example") is None

    reset(client, "mario@new.example")
    password_set(client, mailoutbox[0])

    assert selectors.customer_owning_address("mario@new.example") == mario
    outcome = filing.email_receive(raw=mail(sender="mario@new.example"), now=T0)
    assert outcome.ticket.customer == mario


def test_a_reset_never_takes_an_address_from_the_account_that_owns_it(
    client, mailoutbox, structure
):
    owner = customer_upsert(username="owner", email="shared@example.com", password=PASSWORD)
    other = User.objects.create_user("other", "shared@example.com", PASSWORD)
    CustomerProfile.objects.create(user=other)

    reset(client, "shared@example.com")
    [for_other] = [email for email in mailoutbox if "Hello other," in email.body]
    password_set(client, for_other)

    assert selectors.customer_owning_address("shared@example.com") == owner


def test_an_unconfirmed_sign_up_gets_no_reset_link(client, committed, mailoutbox):
    committed(client.post, "/accounts/signup/", signup_data(email="giulia@example.com"))
    mailoutbox.clear()

    reset(Client(), "giulia@example.com")

    assert mailoutbox == []


def test_the_reset_email_names_the_support_address(client, mailoutbox, settings):
    customer_upsert(username="mario", email="mario@example.com", password=PASSWORD)

    reset(client, "mario@example.com")

    assert settings.SUPPORT_EMAIL in mailoutbox[0].body
