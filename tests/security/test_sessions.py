"""CSRF on every route that takes a POST from a browser's session (generated from the URL conf),
the session's life (a new key at login, the old one dead after logout or a password reset), a
reset link used once, and the chat socket: who may open A's conversation, and from which page.

Covered elsewhere, not repeated here: login and reset throttles (tests/doors/test_login.py,
tests/doors/test_signup_and_reset.py), the socket's refusal of B, the other team and anonymous
and of a foreign or missing Origin (tests/chat/test_consumer.py)."""

import re

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.test import Client

from tests.chat.conftest import (  # noqa: F401 (autouse fixtures of the sockets)
    chat_database_threads_closed,
    open_socket,
    private_redis_keys,
    session_cookie,
    token_of,
)
from tests.factories import PASSWORD
from tests.security.test_matrix import concrete, routes, state
from tests.security.world import VIEWERS, world_build

pytestmark = pytest.mark.security

# Routes that take no browser session, so a forged cross-site POST has nothing to ride on: the
# API's password door (JSON, no session), its JSON 404 for any path, the probes (GET only).
NO_SESSION = {"api:auth-token", "api:not-found", "healthz", "metrics"}


@pytest.fixture
def world(db):
    return world_build()


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["customer_a", "manager", "anonymous"])
def test_every_post_without_the_csrf_token_is_refused(world, viewer):
    """A session's POST without the token: 403 before any view runs, on every route (the
    portal's and the accounts' forms, the desk's, the status page's follow, the API's under a
    session cookie), whoever is signed in; nothing changes. (Anonymous API calls carry no
    session: they get 401.)"""
    client = Client(enforce_csrf_checks=True)
    if world.people[viewer] is not None:
        client.force_login(world.people[viewer])
    client.get("/accounts/login/")  # the CSRF cookie, as a browser has it: only the field lacks
    before = state()
    let_through = []
    for route in routes():
        if route.name in NO_SESSION or (viewer == "anonymous" and route.regex.startswith("api/")):
            continue
        path, _names_a = concrete(route, world)
        response = client.post(path, {"body": "forged", "summary": "forged", "note": "forged"})
        if response.status_code != 403:
            let_through.append(f"{path} ({route.name or route.regex}) -> {response.status_code}")
    assert let_through == []
    assert state() == before


def session_of(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.mark.django_db
@pytest.mark.parametrize("door", ["/accounts/login/", "/admin/login/"])
def test_logging_in_gives_a_new_session_key(world, door):
    """A session fixed before login (planted by an attacker) is worth nothing after it."""
    user = world.people["manager" if door.startswith("/admin") else "customer_a"]
    client = Client()
    planted = SessionStore()
    planted["planted"] = True
    planted.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key

    response = client.post(door, {"username": user.username, "password": PASSWORD})

    assert response.status_code == 302
    assert session_of(client) != planted.session_key
    assert not SessionStore().exists(planted.session_key)


@pytest.mark.django_db
@pytest.mark.parametrize("door", ["/accounts/logout/", "/admin/logout/"])
def test_logging_out_kills_the_session_on_the_server(world, door):
    """A copied session cookie stops working once its owner logs out."""
    client = Client()
    client.force_login(world.people["manager"])
    stolen = session_of(client)

    assert client.post(door).status_code in (200, 302)

    thief = Client()
    thief.cookies[settings.SESSION_COOKIE_NAME] = stolen
    assert thief.get("/tickets/").status_code == 302
    assert thief.get("/admin/").status_code == 302
    assert not SessionStore().exists(stolen)


def reset_link(client: Client, email: str) -> str:
    mail.outbox.clear()
    assert client.post("/accounts/password_reset/", {"email": email}).status_code == 302
    [message] = mail.outbox
    return re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body)[1]


@pytest.mark.django_db
def test_a_reset_link_works_once_and_ends_other_sessions(world):
    customer = world.people["customer_a"]
    elsewhere = Client()
    elsewhere.force_login(customer)
    client = Client()
    link = reset_link(client, customer.email)

    form = client.get(link, follow=True)
    assert form.status_code == 200 and form.context["validlink"]
    new = {"new_password1": "A-new-horse-battery-9", "new_password2": "A-new-horse-battery-9"}
    done = client.post(form.redirect_chain[-1][0], new)
    assert done.status_code == 302

    # The same link again, in this browser or another: refused.
    for reuser in (client, Client()):
        again = reuser.get(link, follow=True)
        assert again.status_code == 200 and not again.context["validlink"]
        reuser.post(
            again.redirect_chain[-1][0] if again.redirect_chain else link,
            {"new_password1": "Stolen-horse-99", "new_password2": "Stolen-horse-99"},
        )
    customer.refresh_from_db()
    assert customer.check_password("A-new-horse-battery-9")
    # A session opened before the reset (a thief's, say) is over.
    assert elsewhere.get("/tickets/").status_code == 302


# --- The chat socket ----------------------------------------------------------------------------

SOCKET_SEES = {"customer_a", "team_agent", "consulted_agent", "manager"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_who_may_open_the_chat_socket_of_a(settings):
    world = world_build()
    keys = {viewer: token_of(user) for viewer, user in world.people.items() if user is not None}

    async def scenario():
        opened = {}
        for viewer in VIEWERS:
            socket, _accepted = await open_socket(world.chat.pk, token=keys.get(viewer))
            output = await socket.communicator.receive_output(5)
            opened[viewer] = output["type"] != "websocket.close"
            if opened[viewer]:
                assert world.secrets[0] in output["text"]
                await socket.close()
            else:
                assert output.get("code") == 4403
                await socket.communicator.disconnect()
        return opened

    opened = async_to_sync(scenario)()

    assert opened == {viewer: viewer in SOCKET_SEES for viewer in VIEWERS}


LOOKALIKES = [
    "http://testserver.evil.example",
    "http://evil-testserver",
    "http://testserver:8080",
    "http://evil.example@testserver.evil.example",
    "ftp://testserver",
    "testserver",
]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_session_socket_from_a_lookalike_origin_is_refused(settings):
    world = world_build()
    cookie = session_cookie(world.people["customer_a"])

    async def scenario():
        socket, _accepted = await open_socket(
            world.chat.pk, cookie=cookie, origin="http://testserver"
        )
        assert (await socket.frame())["type"] == "message"
        await socket.close()
        refused = []
        for origin in LOOKALIKES:
            socket, _accepted = await open_socket(world.chat.pk, cookie=cookie, origin=origin)
            refused.append(await socket.close_code())
        return refused

    assert async_to_sync(scenario)() == [4403] * len(LOOKALIKES)
