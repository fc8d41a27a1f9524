"""The support structure's tables take this app's names, data kept; their content types follow
them, so the permissions granted on them (the agents' and managers' groups) are kept."""

from django.db import migrations

MODELS = ("team", "teammembership", "workinghours", "holiday")


def content_types_move(apps, source, target):
    content_types = apps.get_model("contenttypes", "ContentType").objects
    for model in MODELS:
        if not content_types.filter(app_label=target, model=model).exists():
            content_types.filter(app_label=source, model=model).update(app_label=target)


def forwards(apps, schema_editor):
    content_types_move(apps, "escalation", "teams")


def backwards(apps, schema_editor):
    content_types_move(apps, "teams", "escalation")


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0001_structure_from_escalation"),
        ("escalation", "0004_structure_to_teams"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        *(migrations.AlterModelTable(name=model, table=None) for model in MODELS),
        migrations.RunPython(forwards, backwards),
    ]
