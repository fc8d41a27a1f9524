"""Behind a proxy, the address a door counts comes only from the proxies named in
FORWARDED_ALLOW_IPS: an X-Forwarded-For sent by anyone else changes nothing. Served by the
Procfile's own `web` line (uvicorn), as in production."""

import json
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from helpdesk.run import procfile_processes
from tests.doors.web import request as request_
from tests.doors.web import web_process
from tests.factories import make_customer

pytestmark = [pytest.mark.django_db(transaction=True)]

# Both login doors (the portal's page and the API's token): 3 attempts per client address, as
# many as needed per username.
LIMITS = {
    "RATE_LOGIN_IP": "3/10m",
    "RATE_LOGIN_ACCOUNT": "1000/10m",
    "RATE_TOKEN_IP": "3/10m",
    "RATE_TOKEN_ACCOUNT": "1000/10m",
}
CSRF = "a" * 32  # a CSRF secret: the cookie and the form field carry the same one
DOORS = {
    "page": (
        "/accounts/login/",
        f"username=alice&password=guess&csrfmiddlewaretoken={CSRF}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={CSRF}"},
        200,
    ),
    "api": (
        "/api/v1/auth/token/",
        json.dumps({"username": "alice", "password": "guess"}).encode(),
        {"Content-Type": "application/json"},
        400,
    ),
}


@pytest.fixture(params=sorted(DOORS))
def guess(request):
    """`guess(port, source=, forwarded_for=)`: one wrong password at a login door; the status
    answered, with the door's "wrong password" as "wrong"."""
    path, body, headers, wrong = DOORS[request.param]

    def attempt(port: int, *, source: str, forwarded_for: str) -> str | int:
        status, _headers, _body = request_(
            port,
            "POST",
            path,
            source=source,
            body=body,
            headers={**headers, "X-Forwarded-For": forwarded_for},
        )
        return "wrong" if status == wrong else status

    return attempt


@pytest.fixture
def alice(transactional_db):
    return make_customer(username="alice")


def test_a_forwarded_for_from_an_untrusted_client_does_not_change_the_address(
    guess, alice, tmp_path
):
    # The Procfile's default trusts a proxy on loopback (127.0.0.1); the attacker connects
    # from 127.0.0.2.
    with web_process(tmp_path / "web.log", **LIMITS) as port:
        codes = [guess(port, source="127.0.0.2", forwarded_for=f"198.51.100.{n}") for n in range(4)]

    assert codes == ["wrong", "wrong", "wrong", 429]


def test_the_trusted_proxy_names_the_client(guess, alice, tmp_path):
    with web_process(tmp_path / "web.log", FORWARDED_ALLOW_IPS="127.0.0.1", **LIMITS) as port:
        # Through the proxy, each client is counted on its own...
        spread = [
            guess(port, source="127.0.0.1", forwarded_for=f"198.51.100.{n}") for n in range(4)
        ]
        # ...and one client behind it is held back after its 3 attempts.
        one = [guess(port, source="127.0.0.1", forwarded_for="203.0.113.7") for _ in range(4)]

    assert spread == ["wrong"] * 4
    assert one == ["wrong", "wrong", "wrong", 429]


def test_a_proxy_that_is_not_named_is_not_believed(guess, alice, tmp_path):
    # FORWARDED_ALLOW_IPS names another machine: even loopback's header is ignored.
    with web_process(tmp_path / "web.log", FORWARDED_ALLOW_IPS="192.0.2.1", **LIMITS) as port:
        codes = [guess(port, source="127.0.0.1", forwarded_for=f"198.51.100.{n}") for n in range(4)]

    assert codes == ["wrong", "wrong", "wrong", 429]


def test_every_way_of_running_web_passes_the_trusted_proxies():
    """`make run` and the containers run the Procfile's line with their environment
    (helpdesk.run); compose sets the variable for every container."""
    web = procfile_processes()["web"]
    assert "--proxy-headers" in web
    assert '--forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1,::1}"' in web
    compose = yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text())
    assert compose["services"]["web"]["environment"]["FORWARDED_ALLOW_IPS"].startswith(
        "${FORWARDED_ALLOW_IPS:-"
    )
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
