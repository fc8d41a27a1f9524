"""Email tests: the default support structure, and files stored in each test's tmp_path."""

import pytest

from escalation.services import support_structure_setup


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    location = tmp_path / "attachments"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(location)}},
    }
    return location


@pytest.fixture
def structure(request):
    """API.md's teams (support is L1, 24/7): every ticket opened by email is routed there."""
    support_structure_setup()
