"""The Content-Security-Policy on every page that the URL conf serves by GET (the list is
generated from the URL conf, so a new page is covered), for a visitor and for staff; no page and
no template carries a script the policy would block (inline code, event attributes,
javascript: links)."""

import itertools
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.template import engines
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django.utils.regex_helper import normalize

from tests.factories import make_agent, make_ticket
from tests.portal.uploads import upload
from usecases.tickets import ticket_reply

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self' ws://testserver; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
# Sample values for a URL's parameters, tried in turn until the pattern accepts one.
SAMPLES_AFTER_IDS = ["tickets", "team/", "x"]


def patterns(resolver: URLResolver, prefix: str = ""):
    """(regex of the whole path, the view's pattern) for every view of the URL conf."""
    for entry in resolver.url_patterns:
        regex = prefix + entry.pattern.regex.pattern.lstrip("^")
        if isinstance(entry, URLResolver):
            yield from patterns(entry, regex)
        elif isinstance(entry, URLPattern):
            yield regex, entry


def paths(samples: list[str]) -> list[str]:
    """A concrete path for every view: each parameter gets the first sample its pattern accepts."""
    found = []
    for regex, _entry in patterns(get_resolver()):
        compiled = re.compile(regex)
        template, params = normalize(regex)[0]
        for values in itertools.product(samples, repeat=len(params)):
            path = "/" + template % dict(zip(params, values, strict=True))
            if compiled.fullmatch(path[1:]):
                found.append(path)
                break
        else:
            raise AssertionError(f"no sample fits {regex!r}: add one")
    return sorted(set(found))


class Scripts(HTMLParser):
    """What a script-src 'self' policy would refuse in a page."""

    def __init__(self):
        super().__init__()
        self.blocked: list[str] = []
        self.inline = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                self.blocked.append(f"<{tag} {name}=...>")
            if name in {"href", "src", "action", "formaction"} and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.blocked.append(f"<{tag} {name}=javascript:...>")
        data_block = (attrs.get("type") or "").lower() in {
            "application/json",
            "application/ld+json",
        }
        self.inline = tag == "script" and "src" not in attrs and not data_block

    def handle_data(self, data):
        if self.inline and data.strip():
            self.blocked.append(f"<script>{data.strip()[:60]}")

    def handle_endtag(self, tag):
        self.inline = False


def blocked_scripts(html: str) -> list[str]:
    parser = Scripts()
    parser.feed(html)
    return parser.blocked


@pytest.fixture
def site(customer_a, agent):
    """Something behind every id: a ticket with a file, seen by its customer and its agent."""
    ticket = make_ticket(customer=customer_a)
    message, _ = ticket_reply(
        ticket_id=ticket.pk,
        author=customer_a,
        body="a file",
        channel="web",
        now=timezone.now(),
        attachments=[upload("notes.txt", b"hello")],
    )
    attachment = message.attachments.get()
    ids = [str(ticket.pk), str(attachment.pk), attachment.token]
    return paths(ids + SAMPLES_AFTER_IDS)


@pytest.mark.parametrize("who", ["anonymous", "admin", "agent", "customer"])
def test_every_page_has_the_policy_and_no_blocked_script(who, site, customer_a, agent):
    client = Client()
    if who == "admin":
        client.force_login(make_agent(username="boss", superuser=True))
    elif who == "agent":
        client.force_login(agent)
    elif who == "customer":
        client.force_login(customer_a)
    pages = 0
    for path in site:
        response = client.get(path)
        html = response.get("Content-Type", "").startswith("text/html")
        # Every answer has a policy; a page has this one (a download keeps its stricter own).
        assert response.get("Content-Security-Policy"), (path, response.status_code)
        if html:
            assert response["Content-Security-Policy"] == POLICY, (path, response.status_code)
        if response.status_code == 200 and html:
            pages += 1
            assert blocked_scripts(response.content.decode()) == [], path
    assert pages >= {"anonymous": 5, "admin": 30, "agent": 15, "customer": 8}[who]


def test_the_api_docs_load_their_script_from_a_file(client, customer_a):
    client.force_login(customer_a)
    html = client.get("/api/docs/").content.decode()

    assert blocked_scripts(html) == []
    script = re.search(r'<script src="([^"]*\?script=[^"]*)"', html)
    assert script, html
    response = client.get(script[1].replace("&amp;", "&"))
    assert response.status_code == 200 and "SwaggerUIBundle" in response.content.decode()


def test_the_socket_address_follows_the_scheme(client):
    secure = client.get("/", secure=True)

    assert "connect-src 'self' wss://testserver;" in secure["Content-Security-Policy"]


def templates() -> list[Path]:
    """The product's templates: the project's folder and those of its own apps."""
    base = Path(settings.BASE_DIR)
    folders = [Path(folder) for folder in engines["django"].engine.dirs]
    folders += [
        Path(app.path) / "templates"
        for app in apps.get_app_configs()
        if Path(app.path).is_relative_to(base) and ".venv" not in Path(app.path).parts
    ]
    return sorted(path for folder in folders if folder.exists() for path in folder.rglob("*.html"))


def test_no_template_has_an_inline_script():
    found = {str(path): blocked_scripts(path.read_text()) for path in templates()}

    assert len(found) > 20
    assert {path: blocked for path, blocked in found.items() if blocked} == {}
