"""The ASGI entry (uvicorn's web processes) under load: each HTTP request runs on a thread of
its own (Django's ThreadSensitiveContext), so its database connection is never used again.
Left open for CONN_MAX_AGE it lingered until the garbage collector found it: the soak
(bench/soak.py) saw 48 connections from one bench at 30 requests/s, and PostgreSQL refused
new ones ("too many clients") with 500s."""

import asyncio
import gc

import pytest
from django.db import connection


def backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


async def get(application, path: str) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent = []
    bodies = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if bodies:
            return bodies.pop()
        await asyncio.Event().wait()  # the client stays connected until the answer

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    return sent[0]["status"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_http_request_leaves_no_database_connection_behind():
    from helpdesk.asgi import application

    # Run as uvicorn runs it: an event loop with no thread of Django's waiting under it (as
    # async_to_sync would leave), so that each request gets a thread of its own.
    before = backends()
    # The collector would close some lingering connections at a moment of its choosing.
    gc.disable()
    try:
        statuses = [asyncio.run(get(application, "/healthz")) for _ in range(5)]
        after = backends()
    finally:
        gc.enable()

    assert statuses == [200] * 5
    assert after == before
