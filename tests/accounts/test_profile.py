"""The profile page: name, language, time zone, company; a new address counts only once the link
sent to it is followed."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client

from accounts import selectors
from accounts.models import CustomerProfile
from accounts.services import customer_upsert
from mailin import filing
from tests.accounts.conftest import link_path
from tests.factories import PASSWORD, make_agent
from tests.mailin.mails import mail

User = get_user_model()
T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
PROFILE = "/accounts/profile/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def mario():
    return customer_upsert(
        username="mario",
        email="mario@example.com",
        password=PASSWORD,
        first_name="Mario",
        last_name="Rossi",
        company="Rossi Ricambi",
    )


@pytest.fixture
def browser(client, mario):
    client.force_login(mario)
    return client


def profile_data(user, **overrides) -> dict:
    profile = user.customer_profile
    return {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "language": profile.language,
        "timezone": profile.timezone,
        "company": profile.company,
        **overrides,
    }


def test_the_page_needs_a_login(client):
    response = client.get(PROFILE)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={PROFILE}"


def test_the_header_links_the_page_for_a_signed_in_person(browser):
    assert f'href="{PROFILE}"' in browser.get("/").content.decode()
    assert f'href="{PROFILE}"' not in Client().get("/").content.decode()


def test_a_customer_sees_and_saves_their_profile(browser, mario, mailoutbox):
    form = browser.get(PROFILE).context["form"]
    assert form["first_name"].value() == "Mario" and form["company"].value() == "Rossi Ricambi"
    assert ("America/New_York", "America/New York") in form.fields["timezone"].choices

    response = browser.post(
        PROFILE,
        profile_data(
            mario,
            first_name="Maria",
            language="it",
            timezone="America/New_York",
            company="Rossi Srl",
        ),
    )

    assert response.status_code == 302 and response["Location"] == PROFILE
    mario.refresh_from_db()
    profile = CustomerProfile.objects.get(user=mario)
    assert mario.first_name == "Maria"
    assert (profile.language, profile.timezone, profile.company) == (
        "it",
        "America/New_York",
        "Rossi Srl",
    )
    assert selectors.zone_of(mario) == zoneinfo.ZoneInfo("America/New_York")
    assert mailoutbox == []
    assert '<html lang="it">' in browser.get(PROFILE).content.decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", ""),
        ("timezone", "Etc/GMT+5"),
        ("language", "de"),
        ("email", "not-an-address"),
        ("company", "x" * 201),
        ("first_name", "x" * 151),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(browser, mario, field, value, mailoutbox):
    before = CustomerProfile.objects.filter(user=mario).values().get()
    # One bad field among good changes: none of them is saved.
    changes = {"last_name": "Changed", "email": "new@example.com", "company": "New"}

    response = browser.post(PROFILE, profile_data(mario, **{**changes, field: value}))

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert CustomerProfile.objects.filter(user=mario).values().get() == before
    mario.refresh_from_db()
    assert mario.last_name == "Rossi" and mailoutbox == []


def test_a_zone_set_before_the_list_stays_choosable(browser, mario):
    CustomerProfile.objects.filter(user=mario).update(timezone="CET")

    response = browser.post(PROFILE, profile_data(mario, timezone="CET", company="Kept"))

    assert response.status_code == 302
    assert CustomerProfile.objects.get(user=mario).company == "Kept"


def test_staff_set_their_language_and_time_zone_only(client):
    agent = make_agent(username="giulia")
    client.force_login(agent)
    form = client.get(PROFILE).context["form"]
    assert set(form.fields) == {"language", "timezone"}

    response = client.post(
        PROFILE,
        {"language": "it", "timezone": "Europe/Amsterdam", "email": "x@evil.example"},
    )

    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.email == "giulia@example.com"
    assert selectors.zone_of(agent) == zoneinfo.ZoneInfo("Europe/Amsterdam")
    assert agent.customer_profile.language == "it"


# --- A new address ---------------------------------------------------------------------------


def test_a_new_address_counts_once_the_link_sent_to_it_is_followed(
    browser, mario, committed, mailoutbox
):
    with time_machine.travel(T0, tick=False):
        response = committed(browser.post, PROFILE, profile_data(mario, email="Mario@New.example"))
        assert response.status_code == 302
        mario.refresh_from_db()
        assert mario.email == "mario@example.com"
        to_new, notice = mailoutbox
        assert to_new.to == ["Mario@new.example"]
        assert to_new.subject == "Confirm your new INTROSERV address"
        assert notice.to == ["mario@example.com"] and "Mario@new.example" in notice.body
        # Until the link is followed, the new address owns nothing of the account.
        assert selectors.customer_owning_address("mario@new.example") is None

        path = link_path(to_new)
        assert browser.get(path).context["validlink"]
        response = committed(browser.post, path)

    assert response["Location"] == PROFILE
    mario.refresh_from_db()
    assert mario.email == "Mario@new.example"
    assert selectors.customer_owning_address("mario@new.example") == mario
    assert selectors.customer_owning_address("mario@example.com") is None
    assert mario.customer_profile.address_proven_at == T0


def test_the_address_link_expires_and_works_once(browser, mario, committed, mailoutbox, settings):
    settings.ADDRESS_CHANGE_LINK_HOURS = 2
    with time_machine.travel(T0, tick=False) as clock:
        committed(browser.post, PROFILE, profile_data(mario, email="one@example.com"))
        committed(browser.post, PROFILE, profile_data(mario, email="two@example.com"))
        first, second = link_path(mailoutbox[0]), link_path(mailoutbox[2])
        clock.shift(datetime.timedelta(hours=2))
        assert committed(browser.post, first).status_code == 400
        clock.shift(datetime.timedelta(hours=-1))
        assert committed(browser.post, second).status_code == 302
        assert committed(browser.post, second).status_code == 400
        # Following one link ends the others: the account moved on.
        assert committed(browser.post, first).status_code == 400

    mario.refresh_from_db()
    assert mario.email == "two@example.com"


def test_the_address_of_another_account_is_never_taken(browser, mario, committed, mailoutbox):
    """Mario asks for Vera's address; her mailbox gets the link. Even if she follows it, her
    address stays hers and her mail stays hers."""
    vera = customer_upsert(username="vera", email="vera@example.com", password=PASSWORD)
    free = committed(
        browser.post, PROFILE, profile_data(mario, email="free@example.com"), follow=True
    )
    mailoutbox.clear()

    taken = committed(
        browser.post, PROFILE, profile_data(mario, email="vera@example.com"), follow=True
    )

    # The page says the same as for a free address: it tells nobody who is a customer.
    said = [str(message).replace("free@", "vera@") for message in free.context["messages"]]
    assert [str(message) for message in taken.context["messages"]] == said
    response = committed(Client().post, link_path(mailoutbox[0]))
    assert response.status_code == 409
    mario.refresh_from_db()
    assert mario.email == "mario@example.com"
    assert selectors.customer_owning_address("vera@example.com") == vera


def test_an_unconfirmed_address_is_confirmed_from_the_page(
    browser, mario, committed, mailoutbox, structure
):
    CustomerProfile.objects.filter(user=mario).update(owned_address="")
    assert "is not confirmed yet" in browser.get(PROFILE).content.decode()

    committed(browser.post, PROFILE, {"action": "prove"})

    [email] = mailoutbox
    assert email.to == ["mario@example.com"]
    committed(browser.post, link_path(email))
    assert selectors.customer_owning_address("mario@example.com") == mario
    outcome = filing.email_receive(raw=mail(sender="mario@example.com"), now=T0)
    assert outcome.ticket.customer == mario
