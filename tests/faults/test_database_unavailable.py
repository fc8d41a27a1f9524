"""A lost database, through the ASGI handler as uvicorn runs it: whether a view loses it (DRF's
authentication) or a middleware does (the session read for the profile's language), handler500
(api.errors.server_error) answers 503 with Retry-After, in JSON under /api/, as a page
elsewhere. And a database that accepts the connection but never answers is given up after
DATABASE_CONNECT_TIMEOUT: 503, not a hang."""

import json
import socket
import time
import urllib.error
import urllib.request
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.test import AsyncClient

from tests.faults.pg_helpers import Process, wait_for
from tests.processes import child_env, free_port

pytestmark = pytest.mark.faults


@pytest.fixture
def client():
    return AsyncClient(raise_request_exception=False)


def fetch(client: AsyncClient, path: str, **headers):
    """A GET through the ASGI handler: its innermost exception handling is asynchronous."""
    return async_to_sync(client.get)(path, **headers)


def test_an_api_view_that_loses_the_database_answers_503_json(client):
    lost = OperationalError("server closed the connection unexpectedly")
    with mock.patch(
        "api.authentication.ExpiringTokenAuthentication.authenticate", side_effect=lost
    ):
        response = fetch(client, "/api/v1/tickets/", HTTP_AUTHORIZATION="Token x")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "unavailable"


def test_a_page_whose_session_is_lost_with_the_database_answers_503_html(client):
    client.cookies[settings.SESSION_COOKIE_NAME] = "a" * 32
    lost = InterfaceError("connection already closed")
    with mock.patch("django.contrib.sessions.backends.db.SessionStore.load", side_effect=lost):
        response = fetch(client, "/tickets/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    assert b"Briefly unavailable" in response.content


def test_other_errors_still_answer_500(client):
    with mock.patch(
        "api.authentication.ExpiringTokenAuthentication.authenticate",
        side_effect=RuntimeError("a bug"),
    ):
        response = fetch(client, "/api/v1/tickets/", HTTP_AUTHORIZATION="Token x")

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


@pytest.mark.slow
def test_a_database_that_never_answers_is_given_up_with_503(tmp_path):
    """The web process as the Procfile runs it, its database a port that accepts connections
    (the kernel's backlog) and never says a word."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = free_port()
        env = child_env(
            DATABASE_URL=f"postgres://postgres@127.0.0.1:{silent.getsockname()[1]}/silent",
            DATABASE_CONNECT_TIMEOUT="2",
            REDIS_URL=settings.REDIS_URL,
            HELPDESK_VAR_DIR=str(tmp_path),
            HOST="127.0.0.1",
            PORT=str(port),
            WEB_CONCURRENCY="1",
        )
        web = Process("web", env, tmp_path / "web.log")
        try:
            wait_for(lambda: web.alive() and "Uvicorn running on" in web.text(), "web started")
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/tickets/",
                headers={"Authorization": "Token x"},
            )
            started = time.monotonic()
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(request, timeout=30)  # noqa: S310
            waited = time.monotonic() - started
        finally:
            web.stop()

    assert answer.value.status == 503, web.text()[-2000:]
    assert json.loads(answer.value.read())["code"] == "unavailable"
    print(f"FAULT-COUNTS: silent-database answered=503 after_s={waited:.1f} hung=0")
    assert waited < 20
