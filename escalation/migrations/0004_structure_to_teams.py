"""The support structure moved to the teams app (teams.0001): this app forgets its models,
state only; the tables and their rows stay (teams.0002 renames them)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("escalation", "0003_team_kind_known_tierless_last"),
        ("tickets", "0009_team_from_teams"),
        ("sla", "0005_team_from_teams"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Holiday"),
                migrations.DeleteModel(name="WorkingHours"),
                migrations.RemoveField(model_name="team", name="members"),
                migrations.DeleteModel(name="TeamMembership"),
                migrations.DeleteModel(name="Team"),
            ]
        )
    ]
