"""The `managers` group of API.md: members see everything and decide approvals."""

from django.db import migrations


def create(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="managers")


def remove(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="managers").delete()


class Migration(migrations.Migration):
    dependencies = [("escalation", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create, remove)]
