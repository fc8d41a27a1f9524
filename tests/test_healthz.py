"""/healthz answers 200 only when the database and Redis both answer, else 503 naming which.

Outages are real, not mocked: Redis is pointed at a closed port or a socket that does not
exist, and the database at a server that is not there.
"""

import socket

import pytest
from django.db import connections
from django.db.utils import load_backend
from django.test import override_settings


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unreachable_database(tmp_path, closed_port):
    """Replace the default connection, for this thread, by one to a database that is not there.

    The test's own connection (and its transaction) is left untouched and put back afterwards.
    """
    original = connections["default"]
    settings_dict = {**original.settings_dict}
    if original.vendor == "sqlite":
        settings_dict["NAME"] = str(tmp_path / "no-such-directory" / "db.sqlite3")
    else:
        settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port))
        settings_dict["OPTIONS"] = {**settings_dict.get("OPTIONS", {}), "connect_timeout": 2}
    broken = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "default")
    connections["default"] = broken
    try:
        yield
    finally:
        connections["default"] = original
        broken.close()


@pytest.mark.django_db
def test_healthy(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": True, "redis": True}}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_redis_on_a_closed_port(client, closed_port):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{closed_port}/0"):
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["redis"]
    assert body["checks"] == {"database": True, "redis": False}


@pytest.mark.django_db
def test_redis_socket_missing(client, tmp_path):
    with override_settings(REDIS_URL=f"unix://{tmp_path / 'missing.sock'}"):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]


@pytest.mark.django_db
def test_database_unreachable(client, unreachable_database):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["database"]
    assert body["checks"] == {"database": False, "redis": True}


@pytest.mark.django_db
def test_only_get(client):
    assert client.post("/healthz").status_code == 405
