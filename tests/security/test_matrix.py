"""The visibility matrix, generated from the URL conf: every route, as customer A, customer B, an
agent of the owning team, an agent of another team, an agent of a consulted team, a manager and
an anonymous visitor. Each parameter that names something of customer A's (a ticket, a message,
a file, an approval, a clock...) is filled with A's; a route whose parameter no rule knows fails
with a message saying so, and a route outside the public allowlist must ask for a login.

What is asserted, for every route and viewer:
- nobody gets a 5xx;
- anonymous visitors are sent to log in (the portal's page, the admin's) or get 401 (API),
  except on the public routes;
- whoever may not see A's tickets (B, the other team's agent, anonymous) never reads a word of
  A's (subject, body, names, file names, references), on any page, list or endpoint; on a
  route naming A's object they get no 2xx, and a harmless write there (a POST with plausible
  fields) is refused and changes nothing;
- whoever may see A's ticket (A, the owning team, the consulted team, a manager) reaches each
  route naming A's object as a manager does (a customer may get 403 on staff verbs and the
  admin's login page; agents 403 on the manager-only mail records).
"""

import dataclasses
import json
import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.regex_helper import normalize

from escalation.models import ApprovalRequest, Consultation, Escalation
from incidents.models import Incident, IncidentLink
from tests.security.world import VIEWERS, World, world_build
from tickets.models import Attachment, Event, InboundEmail, Message, OutboundEmail, Ticket

pytestmark = [pytest.mark.security, pytest.mark.django_db]

User = get_user_model()

# Routes anyone may request: the home page, the status page, health and the doors (log in, sign
# up, reset a password, its links), the API's schema and its JSON 404. /metrics answers only
# loopback or a bearer token (tests/sla), and the test client is loopback.
PUBLIC = {
    "home",
    "healthz",
    "metrics",
    "set_language",
    "language_switch",
    "login",
    "logout",
    "signup",
    "signup_sent",
    "signup_confirm",
    "address_confirm",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "status:page",
    "status:feed",
    "status:incident",
    "status:follow",
    "api:auth-token",
    "api:schema",
    "api:docs",
    "api:not-found",
    "admin:login",
    "admin:logout",
}
# Unnamed public routes, by their pattern: the admin's login door (throttled), the old address
# of the support structure's admin pages (a permanent redirect).
PUBLIC_PATTERNS = {r"admin/login/\Z", r"admin/escalation/(?P<rest>"}

SEES_A = {"customer_a", "team_agent", "consulted_agent", "manager"}
CUSTOMERS = {"customer_a", "customer_b"}
# Admin records only managers read (desk/admin/mail.py): an agent's 403 there is the rule.
MANAGER_ONLY_MODELS = {InboundEmail, OutboundEmail}

# Fields a harmless write carries, so that a use case that forgot its access check would act.
WRITE = {
    "body": "written by someone who may not",
    "summary": "written by someone who may not",
    "note": "written by someone who may not",
    "reason": "written by someone who may not",
    "decision": "approve",
    "team": "support",
    "seconds": 3600,
    "kind": "billing_credit",
    "subject": "written by someone who may not",
    "status": "resolved",
}


@dataclasses.dataclass(frozen=True)
class Route:
    regex: str
    name: str | None
    params: tuple[str, ...]
    template: str

    @property
    def family(self) -> str:
        if self.name in PUBLIC or any(self.regex.startswith(p) for p in PUBLIC_PATTERNS):
            return "public"
        if self.regex.startswith("api/"):
            return "api"
        if self.regex.startswith("admin/"):
            return "desk"
        return "portal"


def routes(resolver: URLResolver | None = None, prefix: str = "", namespace: str = ""):
    """Every view of the URL conf, with its whole pattern and namespaced name."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        regex = prefix + entry.pattern.regex.pattern.lstrip("^")
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from routes(entry, regex, inner)
        elif isinstance(entry, URLPattern):
            template, params = normalize(regex)[0]
            name = f"{namespace}{entry.name}" if entry.name else None
            yield Route(regex, name, tuple(params), template)


# --- Filling a route's parameters ---------------------------------------------------------------


def _admin_model(regex: str):
    match = re.match(r"admin/(\w+)/(\w+)/", regex)
    if not match:
        return None
    for model in admin.site._registry:
        if (model._meta.app_label, model._meta.model_name) == match.groups():
            return model
    return None


def _row_of_a(model, world: World):
    """(pk, names A's object) of a registered model's row: A's own where the row belongs to a
    ticket or a person, any row (or none) of the support structure otherwise."""
    a = world.people["customer_a"]
    if model is Ticket:
        return world.ticket.pk, True
    if model is Incident:
        return world.objects["incident"].pk, False
    if issubclass(model, User):
        return a.pk, True
    fields = {field.name: field for field in model._meta.get_fields() if field.many_to_one}
    if "ticket" in fields:
        row = model.objects.filter(ticket__customer=a).order_by("pk").first()
        bound = True
    elif "user" in fields and fields["user"].related_model is User:
        row = model.objects.filter(user=a).first()
        bound = True
    else:
        # The support structure: any row, or an id that names none.
        row = model.objects.order_by("pk").first()
        return (row.pk if row else 0), False
    if row is None:
        raise AssertionError(
            f"the security world has no {model.__name__} row to fill {model._meta.label}'s "
            "admin pages with: add one of customer A's to tests/security/world.py"
        )
    return row.pk, bound


def fill(route: Route, param: str, world: World):
    """The value of one parameter, and whether it names something of customer A's."""
    regex = route.regex
    attachment = world.attachment
    model = _admin_model(regex)
    if regex.startswith("admin/chat/") and param == "ticket_id":
        return world.chat.pk, True
    if regex.startswith("admin/r/"):
        # The admin's "view on site": no model of ours has a page there, 404 for everyone.
        ticket_type = ContentType.objects.get_for_model(Ticket)
        return {"content_type_id": ticket_type.pk, "object_id": world.ticket.pk}[param], False
    if model is not None and param in {"object_id", "id"}:
        return _row_of_a(model, world)
    if model is Ticket and param == "token":
        return attachment.token, True
    if regex.startswith("api/v1/"):
        resource = regex.split("/")[2]
        by_resource = {
            "tickets": (world.ticket.pk, True),
            "approvals": (world.objects["approval"].pk, True),
            "attachments": (attachment.pk, True),
            "incidents": (world.objects["incident"].pk, False),
        }
        if param == "ticket_id":
            return world.ticket.pk, True
        if param == "pk" and resource in by_resource:
            return by_resource[resource]
    elif param == "ticket_id":
        return world.ticket.pk, True
    if param == "attachment_id":
        return attachment.pk, True
    if param == "incident_id":
        return world.objects["incident"].pk, False
    # Parameters that name nothing of anyone's: a link's token, a path the catch-alls answer.
    nobody = {"token": "x", "uidb64": "x", "path": "nothing", "url": "nothing/", "rest": "team/"}
    if param in nobody:
        return nobody[param], False
    if param == "app_label":
        return "tickets", False
    raise AssertionError(
        f"no rule fills the parameter {param!r} of the route {regex!r} ({route.name}): say in "
        "fill() of tests/security/test_matrix.py which of customer A's objects it names"
    )


def concrete(route: Route, world: World) -> tuple[str, bool]:
    values, bound = {}, False
    for param in route.params:
        values[param], names_a = fill(route, param, world)
        bound = bound or names_a
    path = "/" + route.template % values
    assert re.fullmatch(route.regex, path[1:]), (route.regex, path)
    return path, bound


# --- Requests -----------------------------------------------------------------------------------


def client_of(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def content(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def write(client: Client, route: Route, path: str):
    if route.family == "api":
        return client.post(path, json.dumps(WRITE), content_type="application/json")
    return client.post(path, WRITE)


def state() -> tuple:
    """What a refused write must leave as it was."""
    counts = tuple(
        model.objects.count()
        for model in (
            Ticket,
            Message,
            Attachment,
            Event,
            OutboundEmail,
            Consultation,
            Escalation,
            IncidentLink,
        )
    )
    tickets = tuple(Ticket.objects.order_by("pk").values_list("status", "team_id", "assignee_id"))
    approvals = tuple(ApprovalRequest.objects.order_by("pk").values_list("state", flat=True))
    return counts, tickets, approvals


def login_page(route: Route) -> str:
    return "/admin/login/" if route.family == "desk" else "/accounts/login/"


@pytest.fixture
def world(db) -> World:
    return world_build()


def test_every_route_is_filled_or_named_public(world):
    """A route nobody can fill fails here first, with the fix in the message."""
    found = [concrete(route, world) for route in routes()]
    assert len(found) > 150
    assert sum(bound for _path, bound in found) > 40


@pytest.mark.parametrize("viewer", VIEWERS)
def test_who_reaches_what(world, viewer):
    user = world.people[viewer]
    client, manager = client_of(user), client_of(world.people["manager"])
    secrets = [secret.encode() for secret in world.secrets]
    problems = []
    for route in routes():
        path, names_a = concrete(route, world)
        if viewer in SEES_A - {"manager"} and not names_a:
            # What they may see of A's is the question; the manager's run asks the rest.
            continue
        response = client.get(path)
        status, body = response.status_code, content(response)
        location = response.get("Location", "")
        where = f"{viewer} GET {path} ({route.name or route.regex}) -> {status} {location}"

        if status >= 500:
            problems.append(f"{where}: a server error")
            continue
        if viewer not in SEES_A:
            leaked = [s.decode() for s in secrets if s in body or s.decode() in location]
            if leaked:
                problems.append(f"{where}: shows A's {leaked}")
        if route.family == "public":
            continue
        if viewer == "anonymous" or (viewer in CUSTOMERS and route.family == "desk"):
            if route.family == "api":
                expected_login = status == 401
            else:
                expected_login = status == 302 and location.startswith(f"{login_page(route)}?next=")
            if not expected_login:
                problems.append(
                    f"{where}: should ask for a login; a public route goes in PUBLIC of "
                    "tests/security/test_matrix.py"
                )
            continue
        if not names_a:
            continue
        if viewer not in SEES_A:
            if 200 <= status < 300 or status in (400, 409):
                problems.append(f"{where}: reached A's object")
            before = state()
            written = write(client, route, path)
            if written.status_code >= 500 or 200 <= written.status_code < 300:
                problems.append(f"{viewer} POST {path}: answered {written.status_code}")
            elif written.status_code in (400, 409):
                problems.append(f"{viewer} POST {path}: checked A's object ({written.status_code})")
            if state() != before:
                problems.append(f"{viewer} POST {path}: changed A's data")
            continue
        expected = manager.get(path).status_code
        allowed = {expected}
        model = _admin_model(route.regex)
        if viewer == "customer_a" or (viewer != "manager" and model in MANAGER_ONLY_MODELS):
            allowed.add(403)
        if expected == 404 or status not in allowed:
            problems.append(f"{where}: a manager gets {expected}")
    assert problems == [], "\n".join(problems)
