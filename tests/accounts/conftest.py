"""Sign-up, the proof of an address and the profile page through the product's own views, with
the emails they write in Django's outbox."""

import re

import pytest
from django.conf import settings

from tests.factories import PASSWORD

LINK_RE = re.compile(r"https?://\S+")
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def signup_data(**overrides) -> dict:
    return {
        "username": "giulia",
        "email": "giulia@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "language": "en",
        **overrides,
    }


def link_path(email) -> str:
    """The path of the one link in an email, which must start with SITE_URL."""
    [link] = LINK_RE.findall(email.body)
    assert link.startswith(settings.SITE_URL + "/"), link
    return link.removeprefix(settings.SITE_URL)


def page(response) -> str:
    """A page's HTML without its per-visitor CSRF tokens, to compare two pages."""
    return CSRF_RE.sub("", response.content.decode())


def signed_in(client):
    return client.session.get("_auth_user_id")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`committed(client.post, path, data)`: the request, then what it left for after COMMIT
    (its emails), as a real commit would run them."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run
