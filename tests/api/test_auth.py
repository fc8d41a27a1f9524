"""Getting in: tokens (which expire and die with the password), browser sessions with CSRF,
and the rate limits on both doors."""

import datetime
import uuid

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from live import db as chat_db
from tests import factories
from tests.accounts.conftest import link_path
from tests.chat.conftest import open_socket
from tests.factories import PASSWORD
from tickets.models import Channel, Ticket

TOKEN_URL = "/api/v1/auth/token/"
NEW = {"subject": "VPS unreachable", "body": "No ping.", "category": "vps"}


def test_a_token_for_the_right_credentials(api, customer_a):
    response = api().post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=customer_a).key}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/tickets/").status_code == 200


def test_asking_again_returns_the_same_token(api, customer_a):
    first = api().post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")
    second = api().post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")
    assert first.json() == second.json()


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "alice", "password": "wrong"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "alice"},
        {},
        {"username": ["alice"], "password": PASSWORD},
    ],
)
def test_wrong_credentials_are_400_and_issue_nothing(api, customer_a, payload):
    response = api().post(TOKEN_URL, payload, format="json")

    assert response.status_code == 400
    body = response.json()
    assert set(body) <= {"detail", "code", "errors"} and body["detail"]
    assert not Token.objects.exists()


def test_an_inactive_account_gets_no_token(api, customer_a):
    customer_a.is_active = False
    customer_a.save()
    response = api().post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 400


def test_malformed_json_on_the_token_endpoint(api, db):
    response = api().post(TOKEN_URL, '{"username": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.fixture
def browser(customer_a):
    """A signed-in browser: session cookie, CSRF enforced as in production."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(customer_a)
    return client


def test_a_session_reads_without_csrf(browser, ticket_a):
    response = browser.get("/api/v1/tickets/")
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_a_session_write_without_csrf_is_refused(browser, rows):
    before = rows()
    response = browser.post("/api/v1/tickets/", NEW, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "CSRF" in response.json()["detail"]
    assert rows() == before


def test_a_session_write_with_the_csrf_token_is_accepted(browser):
    secret = "a" * 32  # what Django keeps in the cookie and the page echoes in the header
    browser.cookies[django_settings.CSRF_COOKIE_NAME] = secret
    response = browser.post("/api/v1/tickets/", NEW, format="json", HTTP_X_CSRFTOKEN=secret)
    assert response.status_code == 201
    assert Ticket.objects.get().channel == "api"


@pytest.fixture
def low_rates(settings):
    settings.DOOR_LIMITS = {
        **settings.DOOR_LIMITS,
        "ticket_open": {"ip": "100/h", "account": "2/h"},
        "token": {"ip": "3/m", "account": "100/m"},
    }


def test_ticket_creation_is_rate_limited_per_user(api, customer_a, customer_b, low_rates, rows):
    client = api(customer_a)
    assert [client.post("/api/v1/tickets/", NEW, format="json").status_code for _ in range(2)] == [
        201,
        201,
    ]
    before = rows()

    response = client.post("/api/v1/tickets/", NEW, format="json")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 3600
    assert rows() == before
    # Per user: someone else still may, and reading is not limited.
    assert api(customer_b).post("/api/v1/tickets/", NEW, format="json").status_code == 201
    assert client.get("/api/v1/tickets/").status_code == 200


def test_token_requests_are_rate_limited_per_address(api, customer_a, low_rates):
    wrong = {"username": "alice", "password": "guess"}
    assert [api().post(TOKEN_URL, wrong, format="json").status_code for _ in range(3)] == [400] * 3

    right = api().post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    assert right.status_code == 429
    assert 0 < int(right["Retry-After"]) <= 60
    assert not Token.objects.exists()
    other_address = api().post(
        TOKEN_URL,
        {"username": "alice", "password": PASSWORD},
        format="json",
        REMOTE_ADDR="192.0.2.7",
    )
    assert other_address.status_code == 200


def test_a_forged_forwarded_for_does_not_reset_the_limit(api, customer_a, low_rates):
    wrong = {"username": "alice", "password": "guess"}
    codes = [
        api()
        .post(TOKEN_URL, wrong, format="json", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        .status_code
        for n in range(4)
    ]
    assert codes == [400, 400, 400, 429]


# --- Tokens expire and die with the password (issue 17, item 5) ------------------------------


T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
TTL = datetime.timedelta(days=30)
SECOND = datetime.timedelta(seconds=1)


def token_for(api, username="alice", password=PASSWORD) -> str:
    response = api().post(TOKEN_URL, {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["token"]


def holding(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_expires_and_the_endpoint_gives_a_fresh_one(api, customer_a):
    with time_machine.travel(T0, tick=False) as clock:
        key = token_for(api)
        clock.shift(TTL - SECOND)
        assert holding(key).get("/api/v1/tickets/").status_code == 200

        clock.shift(SECOND)
        refused = holding(key).get("/api/v1/tickets/")
        assert refused.status_code == 401
        assert refused.json()["code"] == "token_expired"
        assert set(refused.json()) == {"detail", "code"}
        assert refused["WWW-Authenticate"] == "Token"

        fresh = token_for(api)
        assert fresh != key
        assert holding(fresh).get("/api/v1/tickets/").status_code == 200
        assert holding(key).get("/api/v1/tickets/").status_code == 401


def test_the_lifetime_is_a_setting(api, customer_a, settings):
    settings.API_TOKEN_TTL_DAYS = 1
    with time_machine.travel(T0, tick=False) as clock:
        key = token_for(api)
        clock.shift(datetime.timedelta(days=1))
        assert holding(key).get("/api/v1/tickets/").json()["code"] == "token_expired"


def test_a_password_reset_revokes_the_token(api, customer_a, client, mailoutbox):
    key = token_for(api)

    client.post("/accounts/password_reset/", {"email": customer_a.email})
    form_url = client.get(link_path(mailoutbox[0]))["Location"]
    new = "another-Secret-4-tests"
    assert client.post(form_url, {"new_password1": new, "new_password2": new}).status_code == 302

    assert holding(key).get("/api/v1/tickets/").status_code == 401
    assert holding(token_for(api, password=new)).get("/api/v1/tickets/").status_code == 200


def test_a_password_set_in_the_admin_revokes_the_token(api, customer_a, client):
    key = token_for(api)
    client.force_login(
        get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    )

    new = "another-Secret-4-tests"
    response = client.post(
        f"/admin/auth/user/{customer_a.pk}/password/",
        {"password1": new, "password2": new, "usable_password": "true"},
    )

    assert response.status_code == 302
    assert holding(key).get("/api/v1/tickets/").status_code == 401


def test_set_password_and_save_anywhere_revokes_the_token(api, customer_a):
    key = token_for(api)

    customer_a.set_password("another-Secret-4-tests")
    customer_a.save(update_fields=["password"])

    assert holding(key).get("/api/v1/tickets/").status_code == 401


def test_saves_that_leave_the_password_keep_the_token(api, customer_a, client):
    key = token_for(api)

    customer_a.first_name = "Alicia"
    customer_a.save()
    assert client.login(username="alice", password=PASSWORD)  # saves last_login

    assert holding(key).get("/api/v1/tickets/").status_code == 200


def test_an_inactive_accounts_token_is_refused(api, customer_a):
    key = token_for(api)

    customer_a.is_active = False
    customer_a.save()

    response = holding(key).get("/api/v1/tickets/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_expired_token_is_refused_on_the_live_socket(customer_a, settings):
    settings.CHAT_REDIS_PREFIX = f"chat-test-{uuid.uuid4().hex}"
    chat = factories.make_ticket(customer=customer_a, subject="Live chat", channel=Channel.CHAT)
    with time_machine.travel(T0):
        key = Token.objects.create(user=customer_a).key

    async def scenario():
        with time_machine.travel(T0 + TTL - datetime.timedelta(minutes=1)):
            socket, accepted = await open_socket(chat.pk, token=key)
            assert accepted and (await socket.frame())["type"] == "message"
            await socket.close()
        with time_machine.travel(T0 + TTL + SECOND):
            socket, _accepted = await open_socket(chat.pk, token=key)
            assert await socket.close_code() == 4403

    try:
        async_to_sync(scenario)()
    finally:
        chat_db.connections_close()
