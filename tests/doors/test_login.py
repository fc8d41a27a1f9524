"""Password guessing at both login pages (the portal's and the admin's): one count per door,
per client address and per username given, checked before any password is hashed; a refusal
is the 429 page, in the visitor's language, with Retry-After."""

import pytest
from django.conf import settings
from django.test import Client

from helpdesk import settings as product_settings
from tests.doors.conftest import refused
from tests.factories import PASSWORD, make_agent, make_customer

pytestmark = pytest.mark.django_db

PORTAL = "/accounts/login/"
ADMIN = "/admin/login/"


@pytest.fixture(autouse=True)
def login_limits(doors):
    doors(login={"ip": "6/10m", "account": "3/10m"})


@pytest.fixture
def alice(db):
    return make_customer(username="alice")


WRONG = "guess"


def attempt(client, page, username, password=WRONG, **extra):
    return client.post(page, {"username": username, "password": password}, **extra)


@pytest.mark.parametrize("page", [PORTAL, ADMIN])
def test_guessing_from_one_address_is_refused_after_the_limit(page, client, password_checks):
    # Another name each time, and a new X-Forwarded-For each time: neither resets the count.
    for n in range(6):
        response = attempt(client, page, f"user{n}", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        assert response.status_code == 200, n  # the form again, with its error

    response = attempt(client, page, "user9", HTTP_X_FORWARDED_FOR="198.51.100.9")

    assert refused(response, within=600)
    assert "Too many attempts" in response.content.decode()
    # Refused before authentication: no password was hashed for the 7th attempt.
    assert password_checks == [f"user{n}" for n in range(6)]


@pytest.mark.parametrize("page", [PORTAL, ADMIN])
def test_guessing_one_username_from_many_addresses_is_refused(page, alice, password_checks):
    for n in range(3):
        response = attempt(Client(REMOTE_ADDR=f"203.0.113.{n}"), page, "alice")
        assert response.status_code == 200, n

    guesser = Client(REMOTE_ADDR="203.0.113.50")
    response = attempt(guesser, page, "ALICE", password=PASSWORD)

    assert refused(response, within=600)
    assert settings.SESSION_COOKIE_NAME not in guesser.cookies
    assert len(password_checks) == 3


def test_the_portal_and_the_admin_share_one_count(alice, client):
    staff = make_agent(username="giulia")
    for n in range(3):
        assert attempt(Client(REMOTE_ADDR=f"203.0.113.{n}"), PORTAL, "giulia").status_code == 200

    assert refused(
        attempt(Client(REMOTE_ADDR="203.0.113.9"), ADMIN, "giulia", PASSWORD), within=600
    )
    assert staff.last_login is None


def test_the_refusal_is_in_the_visitors_language_and_the_page_still_opens(client):
    for n in range(6):
        attempt(client, PORTAL, f"user{n}")

    response = attempt(client, PORTAL, "mario", HTTP_ACCEPT_LANGUAGE="it")

    assert refused(response, within=600)
    html = response.content.decode()
    assert "Troppi tentativi. Riprovate tra 10 minuti." in html
    assert '<html lang="it">' in html
    # Reading the form costs nothing: only attempts are counted.
    assert client.get(PORTAL).status_code == 200


def test_a_person_who_mistypes_still_logs_in_under_the_default_limits(settings, alice):
    settings.DOOR_LIMITS = product_settings.DOOR_LIMITS
    person = Client()
    for _ in range(4):
        assert attempt(person, PORTAL, "alice", "mistyped").status_code == 200

    response = attempt(person, PORTAL, "alice", PASSWORD)

    assert response.status_code == 302
