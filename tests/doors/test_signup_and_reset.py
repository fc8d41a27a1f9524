"""Reset-mail bombing and sign-up floods: after the limit nothing more is sent or created."""

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from tests.doors.conftest import refused
from tests.factories import PASSWORD, make_customer

pytestmark = pytest.mark.django_db

User = get_user_model()
RESET = "/accounts/password_reset/"
SIGNUP = "/accounts/signup/"


@pytest.fixture
def mario(db):
    return make_customer(username="mario")


def reset(email: str, address: str):
    return Client(REMOTE_ADDR=address).post(RESET, {"email": email})


def test_reset_mail_to_one_address_stops_after_the_limit(doors, mario):
    doors(password_reset={"ip": "100/h", "account": "3/h"})
    for n in range(3):
        assert reset("mario@example.com", f"203.0.113.{n}").status_code == 302
    assert len(mail.outbox) == 3

    # From yet another address, and written another way: the same mailbox.
    response = reset(" Mario@Example.com ", "203.0.113.50")

    assert refused(response, within=3600)
    assert len(mail.outbox) == 3


def test_reset_requests_from_one_address_stop_after_the_limit(doors, mario):
    doors(password_reset={"ip": "3/h", "account": "100/h"})
    for n in range(3):
        assert reset(f"someone{n}@example.com", "203.0.113.7").status_code == 302

    assert refused(reset("mario@example.com", "203.0.113.7"), within=3600)
    assert mail.outbox == []
    # Another address is not held back by this one.
    assert reset("mario@example.com", "203.0.113.8").status_code == 302
    assert len(mail.outbox) == 1


def signup(client, n: int):
    return client.post(
        SIGNUP,
        {
            "username": f"flood{n}",
            "email": f"flood{n}@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "language": "en",
        },
    )


def test_a_sign_up_flood_from_one_address_stops_after_the_limit(doors, db):
    doors(signup={"ip": "3/h"})
    for n in range(3):
        # A new browser each time, a new forged header. A sign-up is an account waiting for
        # its link, under the address given.
        signup(Client(HTTP_X_FORWARDED_FOR=f"198.51.100.{n}"), n)
        assert User.objects.filter(email=f"flood{n}@example.com").exists(), n
    accounts = User.objects.count()

    response = signup(Client(HTTP_X_FORWARDED_FOR="198.51.100.9"), 9)

    assert refused(response, within=3600)
    assert User.objects.count() == accounts
    signup(Client(REMOTE_ADDR="203.0.113.8"), 10)
    assert User.objects.filter(email="flood10@example.com").exists()
