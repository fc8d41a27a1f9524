"""The unique email per thread arrives on a database that may already hold an email stored
twice (the race it closes): the copies keep their text, lose the Message-ID, and the migration
goes back and forth. In a subprocess on a database of its own, as tests/test_migrations.py."""

import json
import subprocess
import sys

from django.conf import settings

from tests.test_migrations import fresh_database  # noqa: F401 (fixture)

BEFORE = ("tickets", "0011_inboundemail_outboundemail_reply_to")
AFTER = ("tickets", "0012_message_unique_email_id_per_ticket")


def duplicates_cope() -> None:
    """In the subprocess: messages as the race left them, then the migration, back and forth."""
    import datetime

    from django.db import IntegrityError, connection, transaction
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old = executor.loader.project_state(BEFORE).apps
    now = datetime.datetime(2026, 11, 30, 9, tzinfo=datetime.UTC)
    user = old.get_model("auth", "User").objects.create(username="mario")
    team = old.get_model("teams", "Team").objects.create(
        slug="support", name="Support", tier=1, kind="support", timezone="UTC"
    )
    tickets = [
        old.get_model("tickets", "Ticket").objects.create(
            reference=f"HD-2026-00000{n}",
            subject="Down",
            category="vps",
            channel="email",
            customer=user,
            team=team,
            created_at=now,
            updated_at=now,
            last_activity_at=now,
        )
        for n in (1, 2)
    ]
    messages = old.get_model("tickets", "Message").objects
    for ticket, email_id, body in [
        (tickets[0], "<a@example.com>", "first"),
        (tickets[0], "<a@example.com>", "copy"),
        (tickets[0], "<a@example.com>", "second copy"),
        (tickets[0], "", "web reply"),
        (tickets[0], "", "another web reply"),
        (tickets[1], "<a@example.com>", "same email, other thread"),
    ]:
        messages.create(
            ticket=ticket, kind="customer", channel="email", author=user, body=body,
            email_message_id=email_id, created_at=now,
        )  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate([AFTER])
    after = executor.loader.project_state(AFTER).apps.get_model("tickets", "Message")
    kept = list(after.objects.order_by("id").values_list("body", "email_message_id"))
    try:
        with transaction.atomic():
            after.objects.create(
                ticket_id=tickets[0].pk, kind="customer", channel="email", author_id=user.pk,
                body="again", email_message_id="<a@example.com>", created_at=now,
            )  # fmt: skip
        refused = False
    except IntegrityError:
        refused = True
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    executor = MigrationExecutor(connection)
    executor.migrate([AFTER])
    print(json.dumps({"kept": kept, "refused": refused}))


def test_existing_duplicates_lose_their_id_not_their_text_and_the_migration_reverses(
    fresh_database,  # noqa: F811
):
    assert in_subprocess_of_this_module("duplicates_cope", fresh_database) == {
        "kept": [
            ["first", "<a@example.com>"],
            ["copy", ""],
            ["second copy", ""],
            ["web reply", ""],
            ["another web reply", ""],
            ["same email, other thread", "<a@example.com>"],
        ],
        "refused": True,
    }


def in_subprocess_of_this_module(function: str, env: dict) -> dict:
    """tests.test_migrations.in_subprocess, for a function of this module."""
    code = (
        "import django; django.setup(); "
        f"from tests.tickets.test_message_email_id_migration import {function}; {function}()"
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
