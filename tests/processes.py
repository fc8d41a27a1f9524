"""What a test needs to start a real helpdesk process beside itself (uvicorn, a Celery worker,
the mail receiver, a `manage.py` pipe): a free port and the environment that points it at the
test's own database."""

import os
import socket
import uuid
from urllib.parse import quote

from django.conf import settings
from django.db import connection


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """The test database (created by pytest-django) as a DATABASE_URL for a child process:
    with a transactional test, it sees what the test commits."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a helpdesk process started by a test: same settings, same Redis,
    the test's database. The cache keys are its own (the doors' counts, presence marks), as
    every test's are (tests.fixtures.private_cache): processes started with one environment
    share them, no other test or run does."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings_test",
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
        "CACHE_KEY_PREFIX": f"{prefix}-{uuid.uuid4().hex}",
        **extra,
    }
