"""Clocks and breaches belong to teams.Team (the same table): state only."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0004_breach_unnotified_idx"),
        ("teams", "0001_structure_from_escalation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="clock",
                    name="team",
                    field=models.ForeignKey(
                        help_text="The team whose working hours run this clock.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="teams.team",
                    ),
                ),
                migrations.AlterField(
                    model_name="breach",
                    name="team",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="breaches",
                        to="teams.team",
                    ),
                ),
            ]
        )
    ]
