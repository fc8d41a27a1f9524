"""Public pages: home, sign up, log in and out, password reset, language switch."""

import datetime
import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.shortcuts import resolve_url
from django.test import Client

from accounts import services as account_services
from accounts.models import CustomerProfile
from teams.models import Team, WorkingHours
from teams.selectors import hours_summary

User = get_user_model()
PASSWORD = "a-long-Secret-4-tests"

ANONYMOUS_PAGES = [
    "/",
    "/accounts/signup/",
    "/accounts/signup/sent/",
    "/accounts/login/",
    "/accounts/password_reset/",
    "/accounts/password_reset/done/",
    "/accounts/reset/done/",
]


def after_login_url() -> str:
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@pytest.fixture
def customer(db):
    return account_services.customer_upsert(
        username="mario", email="mario@example.com", password=PASSWORD, language="en"
    )


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer)
    return client


def signup_data(**overrides) -> dict:
    return {
        "username": "giulia",
        "email": "giulia@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "language": "it",
        **overrides,
    }


def add_team(slug, *, tier, kind, hours, timezone="UTC", site=""):
    team = Team.objects.create(
        slug=slug, name=slug, tier=tier, kind=kind, timezone=timezone, site=site
    )
    WorkingHours.objects.bulk_create(
        WorkingHours(team=team, weekday=day, start=start, end=end) for day, start, end in hours
    )
    return team


def weekdays(start: int, end: int, days=range(5)):
    return [(day, datetime.time(start), datetime.time(end % 24)) for day in days]


# --- Anonymous and signed-in visitors --------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
def test_anonymous_pages_render_in_the_layout(client, path):
    response = client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="#main"' in html
    assert 'id="main"' in html
    assert 'href="/tickets/new/"' in html
    assert 'href="/tickets/"' in html
    assert 'action="/accounts/language/"' in html
    assert 'href="/accounts/login/' in html
    assert "support@introserv.com" in html
    assert "/static/css/helpdesk.css" in html


@pytest.mark.django_db
def test_signed_in_layout_offers_logout_by_post(customer_client):
    html = customer_client.get("/").content.decode()

    assert re.search(r'<form method="post" action="/accounts/logout/">', html)
    assert "mario" in html
    assert 'href="/accounts/login/' not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/", "/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/done/"],
)
def test_signed_in_pages_render(customer_client, path):
    assert customer_client.get(path).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/"])
def test_signed_in_user_is_sent_on_from_login_and_signup(customer_client, path):
    response = customer_client.get(path)

    assert response.status_code == 302
    assert response["Location"] == after_login_url()


@pytest.mark.django_db
def test_home_states_the_promises_and_links_the_portal(client):
    html = client.get("/").content.decode()

    assert "2 minutes" in html
    assert "1 minute" in html
    assert "10 minutes" in html
    assert "24 hours a day, 7 days a week" in html
    assert "same conversation" in html
    # Before the support structure is set up there is no table of teams.
    assert "<table" not in html


@pytest.mark.django_db
def test_home_shows_the_tiers_and_their_hours_from_the_database(client, django_assert_num_queries):
    add_team("support", tier=1, kind="support", hours=weekdays(0, 24, days=range(7)))
    add_team("billing", tier=2, kind="billing", hours=weekdays(9, 18), timezone="CET")
    add_team(
        "datacenter-ams",
        tier=2,
        kind="datacenter",
        hours=weekdays(8, 17),
        timezone="Europe/Amsterdam",
        site="ams",
    )
    add_team("sysadmin", tier=3, kind="sysadmin", hours=weekdays(8, 22), timezone="CET")
    add_team("management", tier=None, kind="management", hours=weekdays(9, 18))

    # Teams with their hours, and the current policy's promises.
    with django_assert_num_queries(3):
        html = client.get("/").content.decode()

    rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)[1:]
    assert len(rows) == 4, "management is not a tier"
    assert "Level 1" in rows[0] and "24/7" in rows[0]
    assert "Billing" in rows[1] and "Mon-Fri, 09:00-18:00 CET" in rows[1]
    assert "(AMS)" in rows[2] and "Mon-Fri, 08:00-17:00 Europe/Amsterdam" in rows[2]
    assert "Level 3" in rows[3] and "Mon-Fri, 08:00-22:00 CET" in rows[3]


def test_hours_summary():
    full = ((0, 1440),)
    assert hours_summary(dict.fromkeys(range(7), full), "UTC") == "24/7"
    split = {0: ((480, 720), (780, 1020)), 1: ((480, 720), (780, 1020)), 5: ((600, 840),)}
    assert hours_summary(split, "CET") == "Mon-Tue, 08:00-12:00, 13:00-17:00; Sat, 10:00-14:00 CET"
    assert hours_summary({4: ((1200, 1440),)}, "UTC") == "Fri, 20:00-24:00 UTC"
    assert hours_summary({}, "UTC") == "No regular hours"


# --- Sign up ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_signup_makes_an_inactive_customer_and_sends_the_link(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    """Not signed in at once: the address is proven first (tests/accounts/test_signup.py)."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/signup/", signup_data())

    assert response.status_code == 302
    assert response["Location"] == "/accounts/signup/sent/"
    user = User.objects.get(email="giulia@example.com")
    assert not user.is_active and not user.is_staff and not user.is_superuser
    assert user.check_password(PASSWORD)
    assert user.customer_profile.language == "it"
    assert "_auth_user_id" not in client.session
    [email] = mailoutbox
    assert email.to == ["giulia@example.com"] and "/accounts/signup/confirm/" in email.body


@pytest.mark.django_db
def test_signup_always_goes_on_to_the_mailbox_page(client):
    """A safe `next` waits in the link (tests/accounts/test_signup.py); the page itself is the
    same for everyone."""
    response = client.post("/accounts/signup/", signup_data(next="/tickets/new/"))
    assert response["Location"] == "/accounts/signup/sent/"

    other = Client()
    response = other.post(
        "/accounts/signup/",
        signup_data(username="luca", email="luca@example.com", next="https://evil.example/"),
    )
    assert response["Location"] == "/accounts/signup/sent/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"password2": "another-Secret-4-tests"}, "password2", "match"),
        ({"password1": "password", "password2": "password"}, "password2", "too common"),
        ({"password1": "short1", "password2": "short1"}, "password2", "too short"),
        ({"password1": "98234719823", "password2": "98234719823"}, "password2", "numeric"),
        ({"password1": "giulia2024", "password2": "giulia2024"}, "password2", "similar"),
        ({"username": "MARIO"}, "username", "already taken"),
        ({"username": "bad name!"}, "username", "valid username"),
        ({"username": "x" * 151}, "username", "at most 150"),
        ({"email": "not-an-address"}, "email", "valid email"),
        ({"language": "de"}, "language", "valid choice"),
        ({"username": ""}, "username", "required"),
        ({"password1": "", "password2": ""}, "password1", "required"),
    ],
)
def test_signup_refuses_bad_input_and_writes_nothing(client, customer, overrides, field, message):
    users, profiles = User.objects.count(), CustomerProfile.objects.count()

    response = client.post("/accounts/signup/", signup_data(**overrides))

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors
    assert any(message in error for error in errors[field]), errors[field]
    assert 'aria-invalid="true"' in response.content.decode()
    assert User.objects.count() == users
    assert CustomerProfile.objects.count() == profiles
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_signup_form_starts_in_the_visitors_language(client):
    response = client.get("/accounts/signup/", HTTP_ACCEPT_LANGUAGE="it")

    assert response.context["form"]["language"].value() == "it"


# --- Log in and out --------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_with_the_right_password(client, customer):
    response = client.post("/accounts/login/", {"username": "mario", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == after_login_url()
    assert client.session["_auth_user_id"] == str(customer.pk)


@pytest.mark.django_db
def test_login_with_a_wrong_password_re_renders(client, customer):
    response = client.post("/accounts/login/", {"username": "mario", "password": "wrong"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_logout_is_a_post(customer_client):
    assert customer_client.get("/accounts/logout/").status_code == 405
    assert "_auth_user_id" in customer_client.session

    response = customer_client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert "_auth_user_id" not in customer_client.session


# --- Password reset --------------------------------------------------------------------------


@pytest.mark.django_db
def test_password_reset_email_link_sets_a_new_password(client, customer, mailoutbox):
    response = client.post("/accounts/password_reset/", {"email": "MARIO@example.com"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["mario@example.com"]
    assert email.subject == "Reset your INTROSERV password"
    assert "Hello mario," in email.body
    link = re.search(r"(https?://\S+)", email.body).group(1)
    assert link.startswith(settings.SITE_URL + "/accounts/reset/")

    path = link.removeprefix(settings.SITE_URL)
    response = client.get(path)
    assert response.status_code == 302
    form_url = response["Location"]
    assert form_url.endswith("/set-password/")
    response = client.get(form_url)
    assert response.status_code == 200
    assert response.context["validlink"]
    new_password = "another-Secret-4-tests"
    response = client.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reset/done/"
    customer.refresh_from_db()
    assert customer.check_password(new_password)

    # The link works once.
    response = client.get(path)
    assert response.status_code == 200
    assert not response.context["validlink"]


@pytest.mark.django_db
def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(
    client, customer, mailoutbox
):
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    assert mailoutbox == []


@pytest.mark.django_db
def test_password_reset_link_ignores_a_forged_host(client, customer, mailoutbox):
    settings_host = settings.SITE_URL
    client.post("/accounts/password_reset/", {"email": "mario@example.com"}, HTTP_HOST="localhost")

    assert f"{settings_host}/accounts/reset/" in mailoutbox[0].body
    assert "://localhost" not in mailoutbox[0].body


# --- Language switch -------------------------------------------------------------------------


@pytest.mark.django_db
def test_language_switch_persists_to_the_profile(customer_client, customer):
    response = customer_client.post("/accounts/language/", {"language": "it", "next": "/"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    customer.customer_profile.refresh_from_db()
    assert customer.customer_profile.language == "it"
    # The profile wins over the browser from now on.
    html = customer_client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="it">' in html


@pytest.mark.django_db
def test_language_switch_for_a_visitor_sets_the_cookie_only(client):
    profiles = CustomerProfile.objects.count()

    response = client.post("/accounts/language/", {"language": "it", "next": "/accounts/login/"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "it"
    assert CustomerProfile.objects.count() == profiles
    assert '<html lang="it">' in client.get("/").content.decode()


@pytest.mark.django_db
def test_language_switch_refuses_unknown_languages_and_get(customer_client, customer):
    response = customer_client.post("/accounts/language/", {"language": "xx", "next": "/"})

    assert response.status_code == 302
    customer.customer_profile.refresh_from_db()
    assert customer.customer_profile.language == "en"
    assert customer_client.get("/accounts/language/").status_code == 405


@pytest.mark.django_db
def test_language_switch_never_redirects_off_site(client):
    response = client.post(
        "/accounts/language/", {"language": "it", "next": "https://evil.example/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_layout_forms_carry_a_csrf_token(customer):
    """The language and logout forms of the layout work under real CSRF checks."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(customer)
    html = browser.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    response = browser.post(
        "/accounts/language/", {"language": "it", "next": "/", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    response = browser.post("/accounts/logout/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert "_auth_user_id" not in browser.session

    assert Client(enforce_csrf_checks=True).post("/accounts/logout/").status_code == 403
