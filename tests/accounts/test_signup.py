"""Sign-up proves the address before the account owns anything (issue 17, item 2), written as
the attacks: someone signs up with an address that is not theirs."""

import datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import CustomerProfile
from accounts.services import customer_upsert
from mailin import filing
from tests.accounts.conftest import link_path, page, signed_in, signup_data
from tests.factories import PASSWORD
from tests.mailin.mails import mail
from tests.mailin.test_mail_receiver import running_receiver, send
from tickets.models import Ticket

User = get_user_model()
T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
HOURS_48 = datetime.timedelta(hours=48)

pytestmark = pytest.mark.django_db


def signup(client, committed, **overrides):
    return committed(client.post, "/accounts/signup/", signup_data(**overrides))


def confirmed(client, committed, path):
    """Follow a sign-up link as a person does: open it, then press the button."""
    assert client.get(path).context["validlink"]
    return committed(client.post, path)


# --- The attack: someone else's address ------------------------------------------------------


def test_signing_up_with_someone_elses_address_gives_no_account_and_no_login(
    client, committed, mailoutbox
):
    response = signup(client, committed, username="impostor", email="victim@example.com")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/signup/sent/"
    assert not signed_in(client)
    assert not User.objects.filter(is_active=True).exists()
    # The password the impostor chose opens nothing: no session, no API token.
    assert not Client().login(username="impostor", password=PASSWORD)
    token = APIClient().post(
        "/api/v1/auth/token/", {"username": "impostor", "password": PASSWORD}, format="json"
    )
    assert token.status_code == 400
    # The link went to the address, where the impostor cannot read it.
    [email] = mailoutbox
    assert email.to == ["victim@example.com"]
    assert email.subject == "Confirm your INTROSERV account"


def test_mail_from_the_real_owner_is_not_filed_under_an_unconfirmed_sign_up(
    client, committed, structure
):
    signup(client, committed, username="impostor", email="victim@example.com")
    pending = User.objects.get(email="victim@example.com")

    outcome = filing.email_receive(
        raw=mail(sender="Vera Rossi <Victim@Example.com>", subject="Root password"), now=T0
    )

    assert outcome.result == filing.OPENED
    owner = outcome.ticket.customer
    assert owner != pending and owner.is_active
    assert not Ticket.objects.filter(customer=pending).exists()
    # The owner's next mail goes to the owner's account too, never to the sign-up.
    again = filing.email_receive(raw=mail(sender="victim@example.com", subject="More"), now=T0)
    assert again.ticket.customer == owner


@pytest.mark.django_db(transaction=True)
def test_over_smtp_the_owners_mail_never_reaches_the_impostor(client, structure, tmp_path):
    """The whole attack: a real sign-up, then the owner writes through the real SMTP receiver
    (its own process); the impostor looks at their tickets."""
    client.post("/accounts/signup/", signup_data(username="impostor", email="victim@example.com"))

    with running_receiver(tmp_path) as receiver:
        code, reply = send(
            receiver,
            mail(sender="Vera <victim@example.com>", subject="Root password of srv-17"),
            mail_from="victim@example.com",
        )

    assert code == 250, reply
    ticket = Ticket.objects.get()
    assert ticket.customer.is_active and ticket.customer.username != "impostor"
    assert not Ticket.objects.filter(customer__is_active=False).exists()
    response = client.get("/tickets/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_link_activates_the_account_signs_in_and_records_the_proof(
    client, committed, mailoutbox
):
    with time_machine.travel(T0, tick=False):
        signup(client, committed, email="Giulia@Example.com", language="it")
        response = confirmed(client, committed, link_path(mailoutbox[0]))
        session_user = signed_in(client)  # while the session is young

    assert response.status_code == 302
    assert response["Location"] == "/tickets/"
    user = User.objects.get(username="giulia")
    assert user.is_active and user.check_password(PASSWORD)
    assert session_user == str(user.pk)
    profile = user.customer_profile
    assert (profile.language, profile.owned_address) == ("it", "giulia@example.com")
    assert profile.address_proven_at == T0 and profile.signup_pending_since is None


def test_opening_the_link_confirms_nothing_until_the_button(client, committed, mailoutbox):
    """A mail program that opens every link to scan it must not confirm an impostor's
    sign-up for the owner of the mailbox."""
    signup(client, committed, email="victim@example.com")
    path = link_path(mailoutbox[0])

    scanner = Client()
    for _visit in range(2):
        response = scanner.get(path)
        assert response.status_code == 200 and response.context["validlink"]

    assert not User.objects.filter(is_active=True).exists()
    assert not signed_in(scanner)


def test_the_link_expires(client, committed, mailoutbox):
    with time_machine.travel(T0, tick=False) as clock:
        signup(client, committed)
        path = link_path(mailoutbox[0])
        clock.shift(HOURS_48 - datetime.timedelta(seconds=1))
        assert client.get(path).context["validlink"]

        clock.shift(datetime.timedelta(seconds=1))
        opened = client.get(path)
        pressed = committed(client.post, path)

    assert not opened.context["validlink"]
    assert "This link no longer works" in opened.content.decode()
    assert pressed.status_code == 400
    assert not User.objects.filter(is_active=True).exists() and not signed_in(client)


def test_the_link_works_once(client, committed, mailoutbox):
    signup(client, committed)
    path = link_path(mailoutbox[0])
    confirmed(client, committed, path)
    client.post("/accounts/logout/")

    assert not client.get(path).context["validlink"]
    assert committed(client.post, path).status_code == 400
    assert not signed_in(client)


def test_a_forged_or_altered_link_is_refused(client, committed, mailoutbox):
    signup(client, committed)
    path = link_path(mailoutbox[0])
    token = path.split("/")[-2]

    for forged in (token[:-2] + "xx", token.replace(":", ":A", 1), "nothing"):
        response = committed(client.post, f"/accounts/signup/confirm/{forged}/")
        assert response.status_code == 400, forged
    assert not User.objects.filter(is_active=True).exists()


# --- An address that has an account: the same page, no second account -----------------------


def test_an_address_with_an_account_gets_a_reminder_and_no_second_account(
    client, committed, mailoutbox
):
    mario = customer_upsert(
        username="mario", email="mario@example.com", password=PASSWORD, language="it"
    )
    fresh = signup(Client(), committed, username="newcomer", email="newcomer@example.com")
    mailoutbox.clear()
    users = User.objects.count()

    response = signup(client, committed, username="mario2", email="MARIO@example.com")

    assert response.status_code == 302 and response["Location"] == fresh["Location"]
    assert page(client.get(response["Location"])) == page(Client().get(fresh["Location"]))
    assert User.objects.count() == users and not signed_in(client)
    [email] = mailoutbox
    assert email.to == ["mario@example.com"]
    assert email.subject == "Avete già un account INTROSERV"
    assert "mario" in email.body and "mario2" not in email.body
    # Its link sets a password of the existing account.
    path = link_path(email)
    form_url = client.get(path)["Location"]
    new_password = "another-Secret-4-tests"
    response = client.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert response["Location"] == "/accounts/reset/done/"
    mario.refresh_from_db()
    assert mario.check_password(new_password)


def test_an_address_made_an_account_by_its_first_email_can_take_it_over(
    client, committed, mailoutbox, structure
):
    anna = filing.email_receive(raw=mail(sender="Anna <anna@example.com>"), now=T0).ticket.customer

    signup(client, committed, username="anna-web", email="anna@example.com")

    assert not User.objects.filter(username="anna-web").exists()
    [email] = mailoutbox
    assert f"its username is {anna.username}" in email.body
    form_url = client.get(link_path(email))["Location"]
    client.post(form_url, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert Client().login(username=anna.username, password=PASSWORD)


def test_a_staff_address_gets_no_customer_account(client, committed, mailoutbox):
    User.objects.create_user("laura", "laura@introserv.example", PASSWORD, is_staff=True)

    signup(client, committed, username="laura-customer", email="laura@introserv.example")

    assert not User.objects.filter(username="laura-customer").exists()
    assert mailoutbox[0].subject == "You already have an INTROSERV account"


def test_a_disabled_account_keeps_its_address_and_is_sent_nothing(client, committed, mailoutbox):
    mario = customer_upsert(username="mario", email="mario@example.com", password=PASSWORD)
    User.objects.filter(pk=mario.pk).update(is_active=False)

    response = signup(client, committed, username="mario2", email="mario@example.com")

    assert response["Location"] == "/accounts/signup/sent/"
    assert not User.objects.filter(username="mario2").exists() and mailoutbox == []


# --- Unconfirmed sign-ups stand in nobody's way ----------------------------------------------


def test_the_owner_signs_up_past_an_impostors_pending_sign_up(client, committed, mailoutbox):
    signup(Client(), committed, username="impostor", email="victim@example.com")
    impostors_link = link_path(mailoutbox[0])

    signup(client, committed, username="victim", email="victim@example.com")
    confirmed(client, committed, link_path(mailoutbox[1]))

    victim = User.objects.get(username="victim")
    assert victim.is_active and victim.customer_profile.owned_address == "victim@example.com"
    # The impostor's sign-up can never be confirmed now, and is gone.
    assert User.objects.filter(email="victim@example.com").count() == 1
    assert not Client().get(impostors_link).context["validlink"]


def test_a_sign_up_confirmed_after_the_address_got_an_account_is_refused(
    client, committed, mailoutbox, structure
):
    signup(client, committed, username="impostor", email="victim@example.com")
    path = link_path(mailoutbox[0])
    owner = filing.email_receive(raw=mail(sender="victim@example.com"), now=T0).ticket.customer

    assert client.get(path).context["validlink"]
    response = committed(client.post, path)

    assert response.status_code == 409
    assert "This address already has an account" in response.content.decode()
    assert not signed_in(client)
    assert list(User.objects.filter(email="victim@example.com")) == [owner]


def test_an_unconfirmed_sign_up_holds_no_username(client, committed, mailoutbox):
    """Were the name held, a second sign-up with it would tell whether the first address had
    an account (no account made, name free) or not (name held)."""
    customer_upsert(username="mario", email="mario@example.com", password=PASSWORD)

    for email in ("mario@example.com", "someone@example.com", "another@example.com"):
        response = signup(Client(), committed, username="anna", email=email)
        assert response["Location"] == "/accounts/signup/sent/", email

    # Two sign-ups wanted "anna": the first confirmed takes it, the second is told.
    first, second = (link_path(email) for email in mailoutbox[1:])
    confirmed(client, committed, first)
    other = Client()
    assert other.get(second).context["validlink"]
    response = committed(other.post, second)
    assert response.status_code == 409
    assert "This username has been taken" in response.content.decode()
    assert User.objects.get(username="anna").email == "someone@example.com"
    assert not User.objects.filter(email="another@example.com").exists()


def test_expired_sign_ups_for_an_address_are_removed_by_the_next_one(client, committed):
    with time_machine.travel(T0, tick=False) as clock:
        signup(Client(), committed, email="giulia@example.com")
        signup(Client(), committed, email="giulia@example.com")
        clock.shift(HOURS_48)
        signup(client, committed, email="giulia@example.com")

    pending = CustomerProfile.objects.filter(user__email="giulia@example.com")
    assert [profile.signup_pending_since for profile in pending] == [T0 + HOURS_48]


# --- The email itself ------------------------------------------------------------------------


def test_the_link_is_in_the_accounts_language_and_ignores_a_forged_host(
    client, committed, mailoutbox, settings
):
    settings.SIGNUP_LINK_HOURS = 24
    committed(
        client.post,
        "/accounts/signup/",
        signup_data(language="it"),
        HTTP_HOST="localhost",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    [email] = mailoutbox
    assert email.subject == "Confermate il vostro account INTROSERV"
    assert "Gentile giulia," in email.body and "24 ore" in email.body
    assert "://localhost" not in email.body
    link_path(email)


def test_the_page_goes_on_to_a_safe_next_only(committed, mailoutbox):
    for n, (asked, lands) in enumerate(
        [("/tickets/new/", "/tickets/new/"), ("https://evil.example/", "/tickets/")]
    ):
        browser = Client()
        signup(browser, committed, username=f"user{n}", email=f"user{n}@example.com", next=asked)
        response = confirmed(browser, committed, link_path(mailoutbox[n]))
        assert response["Location"] == lands
