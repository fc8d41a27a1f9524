"""A ticket's team is now teams.Team (the same table): state only."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0008_customerprofile_to_accounts"),
        ("teams", "0001_structure_from_escalation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ticket",
                    name="team",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tickets",
                        to="teams.team",
                        verbose_name="team",
                    ),
                )
            ]
        )
    ]
