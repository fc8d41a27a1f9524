"""The API as schemathesis sees it: the OpenAPI document served by the WSGI application in this
process, against the test database, and the rows a fuzzed request may name by id."""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories
from tests.portal.uploads import upload
from tickets.models import Attachment

# The rows of the running test by kind (the first part of the path after /api/v1/): a random
# id is almost always a 404, so a fuzzed request names one of these most of the time.
KNOWN: dict[str, list[int]] = {}


def _kind(path: str, name: str) -> str:
    if name == "ticket_id":
        return "tickets"
    return path.removeprefix("/api/v1/").split("/", 1)[0]


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    if not path_parameters:
        return st.just(path_parameters)
    drawn = {}
    for name, value in path_parameters.items():
        known = KNOWN.get(_kind(context.operation.path, name))
        if not known:
            drawn[name] = st.just(value)
            continue
        as_generated = type(value) if isinstance(value, (int, str)) else str
        # Two in three name a row of the test; the rest keep the generated value.
        drawn[name] = st.sampled_from([*(as_generated(pk) for pk in known), value, value])
    return st.fixed_dictionaries(drawn)


def token_header(user) -> str:
    return f"Token {Token.objects.get_or_create(user=user)[0].key}"


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(user))
    return client


@pytest.fixture
def world(structure):
    """Two customers with tickets (one with a file), an agent of the first line, a manager, an
    open incident with a linked ticket and a pending approval: what the fuzzed ids point at,
    made through the API itself."""
    people = {
        "customer": factories.make_customer(username="carla"),
        "agent": factories.make_agent(username="ugo", teams=(structure["support"],)),
        "manager": factories.make_agent(
            username="mara", teams=(structure["management"],), manager=True
        ),
    }
    other = factories.make_customer(username="dario")
    customer, agent, manager = (token_client(people[role]) for role in people)

    def created(response) -> dict:
        assert response.status_code in (200, 201), response.content
        return response.json()

    with_file = created(
        customer.post(
            "/api/v1/tickets/",
            {"subject": "Down", "body": "Down.", "category": "vps", "attachments": [upload()]},
            format="multipart",
        )
    )
    tickets = [
        with_file["id"],
        created(
            customer.post("/api/v1/tickets/", {"subject": "Mail", "body": "?", "category": "other"})
        )["id"],
        created(
            token_client(other).post(
                "/api/v1/tickets/", {"subject": "DNS", "body": "?", "category": "network"}
            )
        )["id"],
    ]
    incident = created(
        manager.post(
            "/api/v1/incidents/",
            {"title": "Storage outage", "description": "Disks are slow."},
            format="json",
        )
    )
    created(
        manager.post(
            f"/api/v1/incidents/{incident['id']}/tickets/", {"tickets": tickets[:1]}, format="json"
        )
    )
    approval = created(
        agent.post(
            f"/api/v1/tickets/{tickets[1]}/approvals/",
            {"kind": "special", "reason": "A second IP address."},
            format="json",
        )
    )
    KNOWN.update(
        tickets=tickets,
        attachments=list(Attachment.objects.values_list("pk", flat=True)),
        incidents=[incident["id"]],
        approvals=[approval["id"]],
    )
    # Like Django's test client (which connects it again after each of its requests above), the
    # fuzzed requests keep the test's connection open: the end of a request closes it otherwise,
    # and the test's transaction with it.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield people
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
    KNOWN.clear()
