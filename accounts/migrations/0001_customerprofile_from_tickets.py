"""CustomerProfile, moved from the tickets app (tickets.0008 renamed its table): state only, the
rows stay where they are. Its content type follows it, so permissions granted on it are kept."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import core.validators


def content_type_move(apps, schema_editor, source, target):
    content_types = apps.get_model("contenttypes", "ContentType").objects
    if not content_types.filter(app_label=target, model="customerprofile").exists():
        content_types.filter(app_label=source, model="customerprofile").update(app_label=target)


def forwards(apps, schema_editor):
    content_type_move(apps, schema_editor, "tickets", "accounts")


def backwards(apps, schema_editor):
    content_type_move(apps, schema_editor, "accounts", "tickets")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tickets", "0008_customerprofile_to_accounts"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="CustomerProfile",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "language",
                            models.CharField(
                                choices=[("en", "English"), ("it", "Italian")],
                                default="en",
                                max_length=8,
                                verbose_name="language",
                            ),
                        ),
                        (
                            "timezone",
                            models.CharField(
                                default="Europe/Rome",
                                max_length=64,
                                validators=[core.validators.validate_timezone],
                                verbose_name="time zone",
                            ),
                        ),
                        ("company", models.CharField(blank=True, max_length=200, verbose_name="company")),
                        (
                            "user",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="customer_profile",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "customer profile",
                        "verbose_name_plural": "customer profiles",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("language__in", ["en", "it"])),
                                name="profile_language_known",
                            )
                        ],
                    },
                )
            ]
        ),
        migrations.RunPython(forwards, backwards),
    ]
