"""Every migration can be undone and redone, and no model change lacks its migration.

The round trip runs in a subprocess on a database of its own (a fresh SQLite file, or a
fresh PostgreSQL database beside the test database): it drops every table, so it must never
touch the database the other tests share.
"""

import io
import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from tickets.selectors import MANAGERS_GROUP

ROUND_TRIP = (
    "import django; django.setup(); from tests.test_migrations import round_trip; round_trip()"
)


def _schema() -> dict:
    """Tables with their columns and constraints (indexes included), triggers and functions."""
    introspection = connection.introspection
    with connection.cursor() as cursor:
        tables = {
            table: {
                "columns": sorted(
                    c.name for c in introspection.get_table_description(cursor, table)
                ),
                "constraints": {
                    name: sorted(info["columns"] or [])
                    for name, info in introspection.get_constraints(cursor, table).items()
                },
            }
            for table in introspection.table_names(cursor)
        }
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            triggers = sorted(row[0] for row in cursor.fetchall())
            cursor.execute(
                "SELECT proname FROM pg_proc JOIN pg_namespace ON pg_namespace.oid = pronamespace"
                " WHERE nspname = current_schema()"
            )
            functions = sorted(row[0] for row in cursor.fetchall())
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            triggers = sorted(row[0] for row in cursor.fetchall())
            functions = []
    return {"tables": tables, "triggers": triggers, "functions": functions}


def round_trip() -> None:
    """In the subprocess: migrate, take every app to zero (last installed first), migrate again."""
    call_command("migrate", verbosity=0)
    migrated = _schema() | {"managers": Group.objects.filter(name=MANAGERS_GROUP).exists()}
    with_migrations = MigrationLoader(connection).migrated_apps
    labels = [a.label for a in reversed(apps.get_app_configs()) if a.label in with_migrations]
    for label in labels:
        call_command("migrate", label, "zero", verbosity=0)
    emptied = _schema()
    call_command("migrate", verbosity=0)
    remigrated = _schema() | {"managers": Group.objects.filter(name=MANAGERS_GROUP).exists()}
    result = {"labels": labels, "migrated": migrated, "emptied": emptied, "remigrated": remigrated}
    print(json.dumps(result))


@pytest.fixture
def fresh_database(tmp_path):
    """The environment of a subprocess whose database is new and its own."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "HELPDESK_VAR_DIR": str(tmp_path),
    }
    if settings.DATABASE_IS_EMBEDDED:
        yield env  # the SQLite file of a run in tmp_path/
        return
    import psycopg2
    from psycopg2 import sql

    url = urlsplit(os.environ["DATABASE_URL"])
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    name = f"test_{url.path.lstrip('/')}_migrations{worker}"
    server = psycopg2.connect(url._replace(path="/postgres").geturl())
    server.autocommit = True
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    try:
        with server.cursor() as cursor:
            cursor.execute(statement)
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield env | {"DATABASE_URL": url._replace(path=f"/{name}").geturl()}
    finally:
        with server.cursor() as cursor:
            cursor.execute(statement)
        server.close()


def test_every_app_migrates_to_zero_and_back(fresh_database):
    run = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP],
        cwd=settings.BASE_DIR,
        env=fresh_database,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert run.returncode == 0, run.stderr
    state = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"tickets", "escalation", "auth"} <= set(state["labels"])
    assert set(state["emptied"]["tables"]) == {"django_migrations"}
    assert state["emptied"]["triggers"] == []
    assert state["emptied"]["functions"] == []
    assert "tickets_event_append_only" in state["migrated"]["triggers"]
    assert state["migrated"]["managers"]
    assert state["remigrated"] == state["migrated"]


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", check=True, dry_run=True, stdout=out)
    except SystemExit:
        pytest.fail(f"models changed without a migration:\n{out.getvalue()}")
