"""What the doors' attack tests share: tight limits for one door at a time, the attempts that
reached a password check, the 429 answer."""

import pytest
from django.contrib.auth.signals import user_login_failed


@pytest.fixture
def doors(settings):
    """`doors(login={"ip": "3/10m"})`: these doors with these limits, the others as set."""

    def set_limits(**limits):
        settings.DOOR_LIMITS = {**settings.DOOR_LIMITS, **limits}

    return set_limits


@pytest.fixture
def password_checks():
    """Usernames of the login attempts that reached a password check and failed (each one a
    password hash)."""
    checked = []

    def failed(sender, credentials, **kwargs):
        checked.append(credentials.get("username"))

    user_login_failed.connect(failed, dispatch_uid="doors-test-password-checks")
    yield checked
    user_login_failed.disconnect(dispatch_uid="doors-test-password-checks")


def refused(response, *, within: int) -> bool:
    """The door's answer: 429 with a Retry-After of at most `within` seconds."""
    assert response.status_code == 429, response.status_code
    assert 0 < int(response["Retry-After"]) <= within
    return True
