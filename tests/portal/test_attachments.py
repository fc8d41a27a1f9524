"""Downloads: through the ticket's access check, as attachments, never rendered as our page."""

import importlib
import os
from pathlib import Path

import pytest
from django.urls import reverse

from tests import factories
from tests.portal.uploads import PNG, upload


def download(client, ticket, attachment):
    return client.get(
        reverse(
            "tickets:attachment",
            kwargs={"ticket_id": ticket.pk, "attachment_id": attachment.pk},
        )
    )


@pytest.fixture
def open_with(customer_a):
    def make(*files):
        ticket = factories.make_ticket(customer=customer_a, attachments=list(files))
        return ticket, list(ticket.messages.get().attachments.order_by("pk"))

    return make


def test_an_image_downloads_as_an_attachment_with_its_type(client_a, open_with):
    ticket, [attachment] = open_with(upload("screen shot.png"))

    response = download(client_a, ticket, attachment)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="screen shot.png"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content) == PNG


@pytest.mark.parametrize(
    ("name", "served_as"),
    [
        ("report.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
        ("boot.log", "application/octet-stream"),
        ("rules.xml", "application/octet-stream"),
        ("config.json", "application/octet-stream"),
        ("backup.zip", "application/octet-stream"),
    ],
)
def test_only_safe_types_keep_their_content_type(client_a, open_with, name, served_as):
    ticket, [attachment] = open_with(upload(name, b"<html><script>alert(1)</script></html>"))

    response = download(client_a, ticket, attachment)

    assert response["Content-Type"] == served_as
    assert response["Content-Disposition"].startswith("attachment;")


def test_a_file_missing_from_storage_answers_404(client_a, open_with):
    ticket, [attachment] = open_with(upload())
    attachment.file.delete(save=False)

    assert download(client_a, ticket, attachment).status_code == 404


def test_files_are_stored_outside_the_web_roots_under_a_name_nobody_chose(
    settings, attachments_dir, open_with
):
    _ticket, [attachment] = open_with(upload("../../static/evil.png"))

    stored = attachments_dir / attachment.file.name
    assert stored.is_file()
    assert stored.name == attachment.token
    assert attachment.filename == "evil.png"
    web_roots = [settings.STATIC_ROOT, *settings.STATICFILES_DIRS]
    if settings.MEDIA_ROOT:
        web_roots.append(settings.MEDIA_ROOT)
    for root in web_roots:
        assert not stored.resolve().is_relative_to(root)


def test_the_configured_attachment_store_is_outside_the_web_roots():
    product = importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"])
    location = Path(product.STORAGES["default"]["OPTIONS"]["location"]).resolve()

    roots = [product.STATIC_ROOT, *product.STATICFILES_DIRS, getattr(product, "MEDIA_ROOT", "")]
    for root in filter(None, roots):
        assert not location.is_relative_to(Path(root).resolve())
