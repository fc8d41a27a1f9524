"""Who owns an address (accounts.selectors.customer_owning_address), the one rule behind the
sender of inbound mail; and how the migration gave existing customers their address."""

import datetime
import importlib
import io

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError

from accounts import selectors
from accounts.models import CustomerProfile
from accounts.services import customer_register, customer_upsert
from helpdesk.demo import demo_people
from mailin import filing
from tests.accounts.conftest import link_path, signup_data
from tests.factories import PASSWORD, make_agent
from tests.mailin.mails import mail

User = get_user_model()
T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)

pytestmark = pytest.mark.django_db


def test_an_active_customer_owns_the_address_an_operator_or_their_email_gave():
    mario = customer_upsert(username="mario", email="Mario@Example.com", password=PASSWORD)
    anna = customer_register(username="anna", email="anna@example.it", password=None)

    assert selectors.customer_owning_address("mario@example.COM") == mario
    assert selectors.customer_owning_address(" anna@example.it") == anna
    assert selectors.customer_owning_address("nobody@example.com") is None
    assert selectors.customer_owning_address("") is None


def test_add_customer_and_the_demo_give_their_customers_their_address(structure):
    call_command(
        "add_customer",
        "carla",
        "--password",
        PASSWORD,
        "--email",
        "Carla@Example.com",
        stdout=io.StringIO(),
    )
    people = demo_people()

    assert selectors.customer_owning_address("carla@example.com").username == "carla"
    assert selectors.customer_owning_address("mario@example.com") == people["mario"]


def test_a_disabled_staff_or_changed_account_owns_nothing():
    mario = customer_upsert(username="mario", email="mario@example.com", password=PASSWORD)
    User.objects.filter(pk=mario.pk).update(is_active=False)
    assert selectors.customer_owning_address("mario@example.com") is None
    assert selectors.address_holder("mario@example.com") == mario

    agent = make_agent(username="giulia")
    assert selectors.customer_owning_address(agent.email) is None
    assert selectors.address_holder(agent.email) == agent

    anna = customer_upsert(username="anna", email="anna@example.com", password=PASSWORD)
    anna.email = "anna@elsewhere.example"
    anna.save()
    assert selectors.customer_owning_address("anna@elsewhere.example") is None
    assert selectors.customer_owning_address("anna@example.com") is None


def test_an_address_has_one_owner_at_most():
    customer_upsert(username="mario", email="mario@example.com", password=PASSWORD)
    other = User.objects.create_user("other", "mario@example.com", PASSWORD)

    with pytest.raises(IntegrityError):
        CustomerProfile.objects.create(user=other, owned_address="mario@example.com")


def test_an_operator_moves_an_address_to_the_customer_they_name():
    first = customer_register(username="info", email="info@example.com", password=None)

    second = customer_upsert(username="info-desk", email="info@example.com", password=PASSWORD)

    assert selectors.customer_owning_address("info@example.com") == second
    assert CustomerProfile.objects.get(user=first).owned_address == ""


def test_an_address_an_account_gave_up_in_the_admin_is_free_for_a_new_owner(
    client, committed, mailoutbox, structure
):
    mario = customer_upsert(username="mario", email="mario@example.com", password=PASSWORD)
    mario.email = "mario@new.example"
    mario.save()

    committed(
        client.post,
        "/accounts/signup/",
        signup_data(username="heir", email="mario@example.com"),
    )
    path = link_path(mailoutbox[0])
    assert committed(client.post, path).status_code == 302
    heir = User.objects.get(username="heir")
    assert selectors.customer_owning_address("mario@example.com") == heir

    # The same for a first email, when the heir gives the address up in turn.
    heir.email = "heir@example.com"
    heir.save()
    outcome = filing.email_receive(raw=mail(sender="mario@example.com"), now=T0)
    assert outcome.result == filing.OPENED
    assert outcome.ticket.customer not in (mario, heir)


def test_mail_from_an_unproven_account_makes_the_sender_an_account_of_their_own(structure):
    unproven = User.objects.create_user("unproven", "who@example.com", PASSWORD)
    CustomerProfile.objects.create(user=unproven)

    outcome = filing.email_receive(raw=mail(sender="who@example.com"), now=T0)

    assert outcome.result == filing.OPENED
    assert outcome.ticket.customer != unproven
    assert selectors.customer_owning_address("who@example.com") == outcome.ticket.customer


def test_existing_customers_keep_their_address_one_owner_each():
    """The data step of accounts.0002: customers made before it own their address (made from
    email, by an operator, or signed up: the rows cannot tell the last two apart); a shared
    address goes to the account mail was filed under until then; staff own nothing."""
    by_email = customer_register(username="anna", email="Anna@Example.it", password=None)
    signed_up = customer_upsert(username="mario", email="mario@example.com", password=PASSWORD)
    disabled = customer_upsert(username="old", email="old@example.com", password=PASSWORD)
    User.objects.filter(pk=disabled.pk).update(is_active=False)
    shared_old = customer_upsert(username="s1", email="shared@example.com", password=PASSWORD)
    shared_new = User.objects.create_user("s2", "SHARED@example.com", PASSWORD)
    CustomerProfile.objects.create(user=shared_new)
    User.objects.filter(pk=shared_old.pk).update(is_active=False)
    agent = make_agent(username="giulia")
    CustomerProfile.objects.create(user=agent)
    CustomerProfile.objects.update(owned_address="")

    migration = importlib.import_module("accounts.migrations.0002_address_ownership")
    migration.addresses_owned(apps, None)

    owned = dict(CustomerProfile.objects.values_list("user__username", "owned_address"))
    assert owned == {
        by_email.username: "anna@example.it",
        signed_up.username: "mario@example.com",
        disabled.username: "old@example.com",
        shared_old.username: "",
        shared_new.username: "shared@example.com",
        agent.username: "",
    }
