"""Files: type, size and count limits through every way a person attaches one (the portal's new
ticket and reply, the API's new ticket and message, the desk's reply); a refusal stores nothing.
Headers: every HTML page's policy (no 'unsafe-inline' script, frames refused), nosniff, the
referrer policy, and HSTS under the production settings.

Covered elsewhere, not repeated here: how a file is served (tests/portal/test_attachments.py),
the request body cap (tests/doors/test_body_cap.py), the policy on every page
(tests/doors/test_csp.py), `check --deploy` (tests/test_deploy.py), files by email
(tests/mailin/test_inbound.py)."""

import json
import subprocess
import sys

import pytest
from django.test import Client
from django.utils import timezone

from teams.models import Team
from tests import factories
from tests.portal.uploads import PNG, upload
from tests.test_deploy import ROOT, production_env
from tickets.attachments import MAX_FILES_PER_MESSAGE
from tickets.models import Attachment, Message, Ticket
from usecases.setup import support_setup

pytestmark = [pytest.mark.security, pytest.mark.django_db]

REFUSED_NAMES = [
    "page.html",
    "drawing.svg",
    "run.exe",
    "screenshot.png.exe",
    "script.js",
    "noextension",
    ".htaccess",
    "shell.php",
    "photo.png\x00.html",
]


@pytest.fixture
def scene():
    support_setup(now=timezone.now())
    customer = factories.make_customer()
    agent = factories.make_agent(teams=(Team.objects.get(slug="support"),))
    ticket = factories.make_ticket(customer=customer)
    return {"customer": customer, "agent": agent, "ticket": ticket}


def attach(scene, way: str, files: list):
    """Post `files` the way a person would; the response."""
    ticket = scene["ticket"]
    client = Client()
    if way.startswith("desk"):
        client.force_login(scene["agent"])
        return client.post(
            f"/admin/tickets/ticket/{ticket.pk}/change/",
            {"body": "Files.", "visibility": "public", "attachments": files},
        )
    client.force_login(scene["customer"])
    if way == "portal new":
        form = {"subject": "Files", "description": "Files.", "category": "vps"}
        return client.post("/tickets/new/", {**form, "priority": "normal", "attachments": files})
    if way == "portal reply":
        return client.post(f"/tickets/{ticket.pk}/", {"body": "Files.", "attachments": files})
    if way == "api new":
        fields = {"subject": "Files", "body": "Files.", "category": "vps"}
        return client.post("/api/v1/tickets/", {**fields, "attachments": files})
    if way == "api message":
        return client.post(
            f"/api/v1/tickets/{ticket.pk}/messages/", {"body": "Files.", "attachments": files}
        )
    raise AssertionError(way)


WAYS = ["portal new", "portal reply", "api new", "api message", "desk reply"]


def stored() -> tuple[int, int, int]:
    return Ticket.objects.count(), Message.objects.count(), Attachment.objects.count()


def refused(response) -> bool:
    """The API's 400, or the form again (the portal's and the desk's 200) instead of the
    redirect of a stored message."""
    return response.status_code in (200, 400)


@pytest.mark.parametrize("way", WAYS)
def test_a_file_of_a_refused_type_is_not_stored(scene, way):
    for name in REFUSED_NAMES:
        before = stored()
        response = attach(scene, way, [upload("fine.png"), upload(name, b"<script>x</script>")])
        assert refused(response), (way, name, response.status_code)
        assert stored() == before, (way, name)


@pytest.mark.parametrize("way", WAYS)
def test_too_many_files_are_refused(scene, way):
    before = stored()
    files = [upload(f"shot{n}.png") for n in range(MAX_FILES_PER_MESSAGE + 1)]

    response = attach(scene, way, files)

    assert refused(response), (way, response.status_code)
    assert stored() == before


@pytest.mark.parametrize("way", WAYS)
def test_a_file_over_the_size_limit_is_refused(settings, scene, way):
    settings.ATTACHMENT_MAX_BYTES = len(PNG)
    before = stored()

    response = attach(scene, way, [upload("big.png", PNG + b"x")])

    assert refused(response), (way, response.status_code)
    assert stored() == before
    # Right at the limit: stored.
    ok = attach(scene, way, [upload("small.PNG", PNG)])
    assert ok.status_code in (200, 201, 302), (way, ok.status_code)
    assert Attachment.objects.filter(filename="small.PNG").count() == 1


# --- Headers ------------------------------------------------------------------------------------


def script_sources(policy: str) -> list[str]:
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in policy.split(";") if part.strip()
    )
    return directives.get("script-src", directives.get("default-src", []))


@pytest.mark.parametrize(
    ("who", "path"),
    [
        (None, "/"),
        (None, "/status/"),
        (None, "/accounts/login/"),
        ("customer", "/tickets/"),
        ("customer", "/tickets/new/"),
        ("agent", "/admin/"),
        ("agent", "/admin/tickets/ticket/"),
        ("agent", "/admin/chat/"),
    ],
)
def test_html_pages_carry_the_protective_headers(scene, who, path):
    client = Client()
    if who is not None:
        client.force_login(scene[who])

    response = client.get(path)

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in script_sources(policy)
    assert "'unsafe-eval'" not in script_sources(policy)
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


# In the production settings (as tests/test_deploy.py builds them), over HTTPS behind the proxy:
# the headers of a page, and a plain-HTTP request sent to HTTPS.
PRODUCTION_REQUEST = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
# The static files' manifest exists once the image's build ran collectstatic.
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
client = Client(HTTP_HOST="help.example.com")
page = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
plain = client.get("/accounts/login/")
print(json.dumps({
    "status": page.status_code,
    "headers": dict(page.headers),
    "cookies": {name: dict(morsel) for name, morsel in page.cookies.items()},
    "plain": [plain.status_code, plain.get("Location", "")],
}))
"""


def test_production_pages_carry_hsts_and_secure_cookies(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_REQUEST],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])

    headers = answer["headers"]
    assert answer["status"] == 200
    hsts = headers["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts
    assert "'unsafe-inline'" not in script_sources(headers["Content-Security-Policy"])
    assert "connect-src 'self' wss://help.example.com" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert answer["cookies"]["csrftoken"]["secure"] is True
    assert answer["plain"] == [301, "https://help.example.com/accounts/login/"]
