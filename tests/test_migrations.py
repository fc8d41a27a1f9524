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

from accounts.roles import MANAGERS_GROUP


def in_subprocess(function: str, env: dict) -> dict:
    """Run `tests.test_migrations.<function>` in a process of its own on `env`'s database and
    return the JSON it printed last."""
    code = (
        f"import django; django.setup(); from tests.test_migrations import {function}; {function}()"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


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


# The last migrations before the support structure moved to `teams` and the profile to
# `accounts` (tickets.0008, teams.0001).
BEFORE_THE_MOVES = [
    ("escalation", "0003_team_kind_known_tierless_last"),
    ("tickets", "0007_ticket_next_due_at"),
    ("sla", "0004_breach_unnotified_idx"),
]


def moves_keep_data() -> None:
    """In the subprocess: a database as it was before the moves, with a team, its hours, a
    member with the permission to view teams, a profile and a ticket, written through the
    models of that time; then every migration, then the same rows read through today's."""
    import datetime

    from django.contrib.auth.models import Permission
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_THE_MOVES)
    old = executor.loader.project_state(BEFORE_THE_MOVES).apps
    # What post_migrate had created on such a database: the content types and permissions of
    # the support structure under the escalation app.
    content_types = old.get_model("contenttypes", "ContentType").objects
    permissions = old.get_model("auth", "Permission").objects
    for model in ("team", "teammembership", "workinghours", "holiday", "customerprofile"):
        label = "tickets" if model == "customerprofile" else "escalation"
        content_type = content_types.create(app_label=label, model=model)
        for action in ("add", "change", "delete", "view"):
            permissions.create(
                content_type=content_type, codename=f"{action}_{model}", name=f"{action} {model}"
            )
    now = datetime.datetime(2026, 11, 30, 9, tzinfo=datetime.UTC)
    user = old.get_model("auth", "User").objects.create(username="anna", is_staff=True)
    view_team = permissions.get(content_type__app_label="escalation", codename="view_team")
    user.user_permissions.add(view_team)
    team = old.get_model("escalation", "Team").objects.create(
        slug="support", name="Support engineers", tier=1, kind="support", timezone="UTC"
    )
    old.get_model("escalation", "WorkingHours").objects.create(
        team=team, weekday=0, start=datetime.time(9), end=datetime.time(17)
    )
    old.get_model("escalation", "TeamMembership").objects.create(team=team, user=user)
    old.get_model("tickets", "CustomerProfile").objects.create(
        user=user, language="it", timezone="Europe/Rome"
    )
    old.get_model("tickets", "Ticket").objects.create(
        reference="HD-2026-000001",
        subject="Slow VPS",
        category="vps",
        channel="web",
        customer=user,
        team=team,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )

    call_command("migrate", verbosity=0)

    from django.contrib.auth import get_user_model

    from accounts.models import CustomerProfile
    from teams.models import Team
    from tickets.models import Ticket

    anna = get_user_model().objects.get(username="anna")
    team = Team.objects.get(slug="support")
    result = {
        "hours": [str(hours) for hours in team.working_hours.all()],
        "members": [member.username for member in team.members.all()],
        "profile": CustomerProfile.objects.get(user=anna).language,
        "ticket_team": Ticket.objects.get(reference="HD-2026-000001").team.slug,
        "may_view_teams": anna.has_perm("teams.view_team"),
        "stale_permissions": Permission.objects.filter(
            content_type__app_label__in=["escalation", "tickets"],
            content_type__model__in=["team", "customerprofile"],
        ).count(),
    }
    print(json.dumps(result))


@pytest.fixture
def fresh_database(tmp_path):
    """The environment of a subprocess whose database is new and its own."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"],
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
    state = in_subprocess("round_trip", fresh_database)

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


def test_moving_models_between_apps_keeps_their_rows_and_permissions(fresh_database):
    assert in_subprocess("moves_keep_data", fresh_database) == {
        "hours": ["Monday 09:00-17:00"],
        "members": ["anna"],
        "profile": "it",
        "ticket_team": "support",
        "may_view_teams": True,
        "stale_permissions": 0,
    }
