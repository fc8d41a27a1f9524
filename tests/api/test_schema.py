"""The OpenAPI document is valid and complete; the docs page loads nothing from elsewhere."""

import re

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command


def test_the_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    paths = set(schema["paths"])
    assert {
        "/api/v1/auth/token/",
        "/api/v1/tickets/",
        "/api/v1/tickets/{id}/",
        "/api/v1/tickets/{id}/messages/",
        "/api/v1/tickets/{id}/assign/",
        "/api/v1/tickets/{id}/resolve/",
        "/api/v1/tickets/{id}/confirm/",
        "/api/v1/teams/",
        "/api/v1/attachments/{id}/",
        "/api/v1/incidents/",
        "/api/v1/incidents/{id}/",
        "/api/v1/incidents/{id}/updates/",
        "/api/v1/incidents/{id}/notes/",
        "/api/v1/incidents/{id}/tickets/",
        "/api/v1/incidents/{id}/tickets/{ticket_id}/",
        "/api/v1/incidents/{id}/credits/",
    } <= paths
    filters = {p["name"] for p in schema["paths"]["/api/v1/tickets/"]["get"]["parameters"]}
    assert {"status", "team", "assignee", "category", "breached", "q", "page"} <= filters


@pytest.mark.django_db
def test_the_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Helpdesk API"


@pytest.mark.django_db
def test_the_docs_page_serves_its_assets_locally(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    assert "cdn" not in html.lower()


@pytest.mark.skipif(
    "drf_spectacular_sidecar" not in settings.INSTALLED_APPS,
    reason="the docs' assets are collected only once drf_spectacular_sidecar is in INSTALLED_APPS",
)
def test_the_docs_assets_are_static_files():
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{asset}"), asset
