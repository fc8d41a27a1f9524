"""Refuse UPDATE on the event log in the database itself, not only in Event.save()."""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION tickets_event_refuse_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'tickets_event is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tickets_event_append_only BEFORE UPDATE ON tickets_event
    FOR EACH ROW EXECUTE FUNCTION tickets_event_refuse_update();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS tickets_event_append_only ON tickets_event;
DROP FUNCTION IF EXISTS tickets_event_refuse_update();
"""
SQLITE_UP = """
CREATE TRIGGER tickets_event_append_only BEFORE UPDATE ON tickets_event
BEGIN SELECT RAISE(ABORT, 'tickets_event is append-only'); END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS tickets_event_append_only;"


def _run(sql_by_vendor):
    def run(apps, schema_editor):
        sql = sql_by_vendor.get(schema_editor.connection.vendor)
        if sql:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_UP, "sqlite": SQLITE_UP}),
            _run({"postgresql": POSTGRES_DOWN, "sqlite": SQLITE_DOWN}),
        )
    ]
