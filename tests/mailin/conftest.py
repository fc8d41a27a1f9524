"""Email tests: the default support structure, and files stored in each test's tmp_path."""

import pytest

from teams.services import support_structure_setup


@pytest.fixture
def structure(request):
    """API.md's teams (support is L1, 24/7): every ticket opened by email is routed there."""
    support_structure_setup()
